"""The offline model's investigation strategy, step by step, through its public entry point (`reply`):
what the engineer names is looked at, a failed check is a gap and not an ending, an error the output
states is never "no fault", and knowledge comes from the one signature registry.
"""

from __future__ import annotations

import json

from assistant.findings.signatures import SIGNATURES
from assistant.runbook import reply
from assistant.runbook.causes import CAUSES
from tools.catalog import TOOLS

TOOLS_ALL = [t.function_schema() for t in TOOLS.values()]
HOST = "You are Firstline.\nTarget: app-01 (host)"
K8S = "You are Firstline.\nTarget: prod (kubernetes)"


class Session:
    """A conversation driven by hand: the model asks, the test answers each call from a dict of outputs."""

    def __init__(self, system: str, user: str) -> None:
        self.messages: list[dict] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        self.asked: list[tuple[str, dict]] = []

    def step(self, outputs: dict[str, tuple[str, int | None, str | None]] | None = None) -> str | None:
        """One model step; answers its calls from `outputs` (keyed by tool name, or 'tool:arg'); returns the
        answer text when the model answered instead of calling tools."""
        r = reply(self.messages, TOOLS_ALL)
        if not r.calls:
            return r.text
        self.messages.append({"role": "assistant", "content": None, "tool_calls": r.calls})
        for c in r.calls:
            name, args = c["function"]["name"], json.loads(c["function"]["arguments"])
            self.asked.append((name, args))
            out = _answer(outputs or {}, name, args)
            self.messages.append({"role": "tool", "tool_call_id": c["id"], "content": _tool_text(name, *out)})
        return None

    def run(self, outputs: dict, steps: int = 8) -> str:
        for _ in range(steps):
            text = self.step(outputs)
            if text is not None:
                return text
        raise AssertionError("no answer")


def _answer(outputs: dict, name: str, args: dict) -> tuple[str, int | None, str | None]:
    for key in [*(f"{name}:{v}" for v in args.values()), name]:
        if key in outputs:
            return outputs[key]
    return "", None, f"no recorded output for {name}"


def _tool_text(name: str, output: str, exit_code: int | None, error: str | None) -> str:
    status = "error" if error and exit_code is None else f"exit {exit_code}"
    return f"$ {name}  ({status})\n" + (f"ERROR: {error}\n" if error else "") + output


def ok(text: str) -> tuple[str, int, None]:
    return text, 0, None


# ------------------------------------------------------------------ what the engineer names


def test_a_log_path_in_the_message_is_read_first():
    s = Session(
        HOST, "the importer writes errors to /var/log/importer/import.log since 02:00, what is wrong?"
    )
    s.step()
    assert ("log_tail", {"source": "/var/log/importer/import.log", "lines": 200}) in s.asked


def test_a_log_full_of_errors_is_not_a_disk_problem():
    s = Session(HOST, "the nginx error log on app-01 is full of errors, what do they mean?")
    s.step()
    names = [n for n, _ in s.asked]
    assert "disk_usage" not in names
    assert ("log_tail", {"source": "/var/log/nginx/error.log", "lines": 200}) in s.asked


def test_a_quoted_error_decides_where_to_look():
    s = Session(
        HOST, "uploads on files-02 fail with \"OSError: [Errno 30] Read-only file system: '/srv/files/a'\""
    )
    s.step()
    assert (
        "log_tail",
        {"source": "/var/log/kern.log", "grep": "EXT4-fs|I/O error|read-only|remount|XFS", "lines": 200},
    ) in s.asked


def test_a_500_from_a_named_app_does_not_read_nginx_logs():
    s = Session(HOST, "billing-api.service returns 500 on every request")
    s.step()
    assert not any(a.get("source", "").startswith("/var/log/nginx") for _, a in s.asked)


# ------------------------------------------------------------------ gaps are not endings


def test_a_check_that_fails_leads_to_the_standard_triage():
    s = Session(HOST, "ledger-sync on app-01 is down")
    answer = s.run(
        {"disk_usage": ok("Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 40G 12G 26G 32% /")}
    )
    names = {n for n, _ in s.asked}
    assert {"service_status", "log_tail", "disk_usage", "host_resources"} <= names
    assert "none of my checks could run" not in answer
    assert "**What I could not see**" in answer and "could not run" in answer


def test_an_unreadable_pod_listing_is_a_gap_not_zero_pods():
    s = Session(K8S, "pods in namespace shop keep restarting")
    answer = s.run({"list_pods": ok("error: You must be logged in to the server (Unauthorized)")})
    assert "0 of 0 pods" not in answer
    assert "could not read" in answer and "k8s_events" in [n for n, _ in s.asked]


# ------------------------------------------------------------------ the answer


def test_generic_evidence_is_quoted_never_no_fault():
    s = Session(HOST, "ledger-sync.service on app-01 keeps failing")
    status = """\
× ledger-sync.service - Ledger sync
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC; 1min ago
    Process: 811 ExecStart=/usr/bin/ledger-sync (code=exited, status=2)
Mar 03 10:00:09 app-01 ledger-sync[811]: FATAL: upstream ledger returned malformed manifest v7"""
    answer = s.run({"service_status": (status, 3, None)})
    assert "No fault" not in answer
    assert "malformed manifest v7" in answer.split("**Evidence**")[0]


def test_a_quoted_failure_is_explained_even_when_the_checks_look_healthy():
    s = Session(
        HOST, "the gateway logs \"OOM command not allowed when used memory > 'maxmemory'\" from redis"
    )
    active = "● redis-server.service - Advanced key-value store\n     Active: active (running) since Mon"
    answer = s.run({"service_status": ok(active), "host_resources": ok("Mem: 16000 4000 8000 1 4000 11000")})
    assert answer.startswith("**Root cause** — Not confirmed by my checks")
    assert "maxmemory" in answer


def test_a_follow_up_question_is_answered_from_what_was_seen():
    s = Session(HOST, "nginx on app-01 will not start")
    bind = """\
× nginx.service - nginx
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC
Mar 03 10:00:09 app-01 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"""
    owner = (
        "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("node",pid=2314,fd=19))'
    )
    first = s.run({"service_status": (bind, 3, None), "port_owner": ok(owner)})
    s.messages += [
        {"role": "assistant", "content": first},
        {"role": "user", "content": "what does that mean?"},
    ]
    asked = len(s.asked)
    assert s.step() is not None and len(s.asked) == asked  # no new calls: the evidence is already there


# ------------------------------------------------------------------ knowledge as data


def test_every_refined_cause_belongs_to_a_registered_signature():
    assert set(CAUSES) <= set(SIGNATURES)
    for name, sig in SIGNATURES.items():
        assert sig.cause or name in CAUSES or sig.rank <= 60, f"{name} has no cause sentence"
        assert isinstance(sig.ends, bool) or all(isinstance(k, str) for k in sig.ends)


def test_a_missing_previous_log_leads_to_the_current_one():
    s = Session(K8S, "pods in namespace shop keep crashing")
    pods = (
        "NAME                    READY   STATUS             RESTARTS     AGE\n"
        "api-5c9f7d8b6-8xk2m     0/1     CrashLoopBackOff   7 (2m ago)   1h"
    )
    s.run({"list_pods": ok(pods), "pod_logs": ("", None, "previous terminated container not found")})
    logs = [a for n, a in s.asked if n == "pod_logs"]
    assert any(a.get("previous") for a in logs) and any(not a.get("previous") for a in logs)


def test_a_turn_asks_at_most_twelve_checks():
    s = Session(
        HOST, "everything on app-01 is broken: nginx, postgresql, redis and rabbitmq all fail, disk too"
    )
    s.run({})
    assert len(s.asked) <= 12


def test_host_and_port_in_the_message_are_checked_for_listeners():
    s = Session(HOST, 'the exporter target db-reports:9187 is down ("connection refused")')
    s.step()
    assert ("port_owner", {"port": 9187}) in s.asked


def test_an_error_stated_without_quotes_is_read_like_a_quote():
    from assistant.runbook.entities import extract

    assert (
        "connect ETIMEDOUT"
        in extract("its node service can't talk to Postgres. Logs say connect ETIMEDOUT.").quotes
    )
    s = Session(HOST, "the api on app-07 can't reach Postgres. Logs say connect ETIMEDOUT.")
    answer = s.run({})
    assert "ETIMEDOUT" in answer and "firewall" in answer


# ------------------------------------------------------------------ the chain of causes, names and namespaces


def test_the_journal_of_a_named_unit_counts_as_about_it_so_its_cause_leads():
    status = """\
● orders-api.service - Orders API (node)
     Active: activating (auto-restart) (Result: core-dump) since Tue 2026-03-03 10:00:09 UTC; 3s ago
   Main PID: 811 (code=dumped, signal=ABRT)
Mar 03 10:00:09 app-01 systemd[1]: orders-api.service: Main process exited, code=dumped, status=6/ABRT"""
    journal = (
        "Mar 03 10:00:08 app-01 node[811]: FATAL ERROR: Reached heap limit Allocation failed - "
        "JavaScript heap out of memory"
    )
    s = Session(HOST, "orders-api on app-01 keeps restarting every few minutes")
    answer = s.run({"service_status": (status, 3, None), "log_tail": ok(journal)})
    root = answer.split("**Evidence**")[0]
    assert "heap" in root and "does not show a more specific cause" not in root


def test_pods_not_in_the_guessed_namespace_are_looked_for_in_the_workloads_own():
    s = Session(K8S, "the payments deployment keeps crashing with CrashLoopBackOff")
    answer = s.run({})
    assert ("list_pods", {"namespace": "default"}) in s.asked
    assert ("list_pods", {"namespace": "payments"}) in s.asked
    assert "**What I could not see**" in answer


def test_namespace_phrasings_name_the_namespace_and_no_verb_becomes_a_deployment():
    from assistant.runbook.entities import extract

    for text in (
        "the `batch` namespace cannot create pods",
        "our batch namespace has a cronjob that fails",
        "kubectl get pods -n batch shows nothing",
        "nothing gets scheduled in the batch namespace",
    ):
        e = extract(text)
        assert e.namespaces == ["batch"], text
        assert not set(e.deployments) & {"create", "get", "cannot"}, text
    assert extract("orders-api pods in namespace api restart").namespaces == ["api"]
    assert "namespace-api" not in extract("orders-api pods in namespace api restart").services


def test_only_an_instruction_is_a_fix_request_not_a_question_or_a_report():
    from assistant.runbook.entities import fix_requests

    for text in (
        "How do I fix it, and how can I check it picked up the right address?",
        "Should I just restart systemd-resolved?",
        "we ran netplan apply and restart systemd-resolved but names still fail",
        "After a reboot and restart of networkd, DNS is broken",
        "what would you do to fix it?",
    ):
        assert fix_requests(text) == (False, []), text
    assert fix_requests("ok, restart nginx") == (False, [("restart", "nginx")])
    assert fix_requests("can you restart nginx?") == (False, [("restart", "nginx")])
    assert fix_requests("yes, go ahead")[0]


def test_asking_how_to_fix_gets_the_fix_in_words_and_no_write_call():
    s = Session(HOST, "nginx on app-01 will not start")
    bind = """\
× nginx.service - nginx
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC
Mar 03 10:00:09 app-01 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"""
    owner = (
        "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("node",pid=2314,fd=19))'
    )
    outputs = {"service_status": (bind, 3, None), "port_owner": ok(owner)}
    first = s.run(outputs)
    s.messages += [{"role": "assistant", "content": first}, {"role": "user", "content": "How do I fix it?"}]
    answer = s.run(outputs)
    assert not any(n in ("kill_process", "restart_service") for n, _ in s.asked)
    assert "kill_process" in answer or "kill" in answer


ONESHOT = """\
○ pg-backup.service - Nightly PostgreSQL backup
     Loaded: loaded (/etc/systemd/system/pg-backup.service; static)
     Active: inactive (dead) since Wed 2026-03-04 02:14:51 UTC; 6h ago
TriggeredBy: ● pg-backup.timer
   Main PID: 4411 (code=exited, status=0/SUCCESS)
Mar 04 02:14:51 db-03 systemd[1]: Finished pg-backup.service - Nightly PostgreSQL backup."""


def test_a_later_turn_does_not_repeat_checks_unless_asked_to_look_again():
    s = Session(HOST, "pg-backup on app-01 shows inactive (dead). Is the nightly backup broken?")
    outputs = {"service_status": ok(ONESHOT), "log_tail": ok("Mar 04 02:14:50 app-01 backup complete")}
    first = s.run(outputs)
    before = list(s.asked)
    s.messages += [{"role": "assistant", "content": first}, {"role": "user", "content": "and the timer?"}]
    second = s.run(outputs)
    assert not set(map(str, s.asked[len(before) :])) & set(map(str, before))
    assert "none of my checks could run" not in second
    s.messages += [
        {"role": "assistant", "content": second},
        {"role": "user", "content": "check pg-backup again"},
    ]
    s.run(outputs)
    assert ("service_status", {"service": "pg-backup"}) in s.asked[len(before) + 1 :]


def test_a_journal_comes_before_guessed_log_file_names():
    s = Session(HOST, "ledger-sync on app-01 is down")
    s.run({"service_status": ("× ledger-sync.service\n     Active: failed (Result: exit-code)", 3, None)})
    logs = [a["source"] for n, a in s.asked if n == "log_tail"]
    assert logs and logs[0] == "unit:ledger-sync"


def test_a_namespace_that_shows_nothing_is_a_gap_then_the_workload_and_default_are_tried():
    from assistant.runbook.entities import extract

    assert extract('we moved it into its own namespace "notifications"').namespaces == ["notifications"]
    s = Session(K8S, "no new pods appear for report-gen in the reports namespace since this morning")
    s.run({})
    tried = [a["namespace"] for n, a in s.asked if n == "list_pods"]
    assert tried[0] == "reports" and "report-gen" in tried and "default" in tried


def test_two_unrelated_causes_of_equal_weight_are_both_named_with_how_to_decide():
    df = (
        "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        40G   40G     0 100% /\n"
        "Filesystem      Inodes IUsed IFree IUse% Mounted on\n/dev/sda1      2621440 300000 2321440 12% /"
    )
    kern = "Mar 03 10:00:01 app-01 kernel: [123.4] nf_conntrack: nf_conntrack: table full, dropping packet"
    s = Session(HOST, "something is wrong on app-01 since 10:00, alerts everywhere")
    answer = s.run({"disk_usage": ok(df), "log_tail": ok(kern), "host_resources": ok("load average: 0.1")})
    assert "**Also possible**" in answer
    assert "100% full" in answer and "conntrack" in answer
    assert "compare their times" in answer or "would tell them apart" in answer


def test_a_cause_and_its_consequence_are_not_offered_as_alternatives():
    s = Session(HOST, "api on app-01 will not start")
    status = """\
× api.service - API
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC
Mar 03 10:00:09 app-01 api[812]: OSError: [Errno 28] No space left on device: '/var/lib/api/cache'"""
    df = "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        40G   40G     0 100% /"
    answer = s.run({"service_status": (status, 3, None), "disk_usage": ok(df)})
    assert "**Also possible**" not in answer


def test_a_name_dns_resolves_but_etc_hosts_pins_elsewhere_is_the_cause():
    s = Session(
        HOST,
        'worker on app-01 logs "Error 113 connecting to redis-queue.internal:6379. No route to host." '
        "DNS looks right. Why?",
    )
    hosts = "127.0.0.1 localhost\n# pinned during INC-1\n10.3.0.40 redis-queue.internal\n::1 ip6-localhost"
    answer = s.run(
        {
            "dns_lookup": ok("redis-queue.internal has address 10.3.2.11"),
            "log_tail:/etc/hosts": ok(hosts),
        }
    )
    assert ("log_tail", {"source": "/etc/hosts"}) in s.asked
    root = answer.split("**Evidence**")[0]
    assert "/etc/hosts" in root and "10.3.0.40" in root and "10.3.2.11" in root
    assert "`10.3.0.40 redis-queue.internal`" in answer  # the exact line, quoted


def test_etc_hosts_agreeing_with_dns_is_no_finding():
    from assistant.runbook.conversation import parse

    s = Session(HOST, "api.internal on app-01 times out")
    s.run(
        {
            "dns_lookup": ok("api.internal has address 10.0.0.5"),
            "log_tail:/etc/hosts": ok("10.0.0.5 api.internal"),
        }
    )
    conv = parse(s.messages, TOOLS_ALL)
    assert not [f for f in conv.findings() if f.signature == "hosts-file-override"]


def test_a_service_whose_unit_has_another_name_gets_its_log_read_with_the_version_seen():
    s = Session(HOST, "php-fpm on web-01 is slow, nginx gives 504 gateway timeouts")
    ps = (
        "USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\n"
        "root 811 0.0 0.1 2000 1000 ? Ss 10:00 0:00 php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"
    )
    log = "[03-Mar-2026 10:00:01] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it"
    answer = s.run(
        {
            "service_status": ("Unit php-fpm.service could not be found.", 4, None),
            "process_list": ok(ps),
            "log_tail": ok(log),
        }
    )
    assert ("log_tail", {"source": "/var/log/php8.2-fpm.log", "lines": 100}) in s.asked
    assert "max_children" in answer


def test_the_registry_declares_fixes_and_whose_restart_completes_them():
    assert {s.then_restart for s in SIGNATURES.values()} <= {None, "tls-server", "pool-client"}
    s = Session(HOST, "the importer writes errors to /var/log/importer/import.log, what is wrong?")
    log = "2026-03-03T10:00:01Z ERROR upstream ledger returned malformed manifest v7"
    answer = s.run({"log_tail": ok(log)})
    fix = answer.split("**Suggested fix** — ")[1]
    assert fix.startswith(SIGNATURES["error-lines"].fix or "?")


def test_parts_of_a_file_path_are_not_hosts_domains_or_units():
    from assistant.runbook.entities import extract

    e = extract(
        "CI jobs on ci-runner-3 fail with: failed to register layer: write "
        "/usr/lib/x86_64-linux-gnu/libLLVM-17.so.1: no space left on device",
        ["ci-runner-3"],
    )
    assert e.hosts == ["ci-runner-3"] and e.fqdns == [] and "libllvm" not in e.services
    assert e.paths == ["/usr/lib/x86_64-linux-gnu/libLLVM-17.so.1"]
    assert extract("see https://shop.example.com/x/y.html").fqdns == ["shop.example.com"]


def test_of_two_generic_errors_the_earlier_leads_it_is_more_often_the_cause():
    s = Session(HOST, "the importer writes errors to /var/log/importer/import.log, what is wrong?")
    log = (
        "2026-03-03T10:00:01Z ERROR vault login failed: upstream refused the client certificate chain\n"
        "2026-03-03T10:00:02Z ERROR sync run 88213 aborted: no credentials\n"
    )
    answer = s.run({"log_tail": ok(log)})
    root = answer.split("**Evidence**")[0]
    assert "vault login failed" in root and "no credentials" not in root


def test_a_cause_seen_only_in_systemds_status_is_followed_by_the_units_own_journal():
    status = """\
× gateway.service - API gateway
     Active: failed (Result: resources) since Tue 2026-03-03 10:00:09 UTC; 1min ago
Mar 03 10:00:09 app-01 systemd[1]: gateway.service: Failed to load environment files: No such file or directory
Mar 03 10:00:09 app-01 systemd[1]: gateway.service: Failed to run 'start' task: No such file or directory"""
    s = Session(HOST, "gateway on app-01 does not start after the deploy")
    answer = s.run({"service_status": (status, 3, None)})
    assert ("log_tail", {"source": "unit:gateway", "lines": 100}) in s.asked
    assert "environment" in answer.split("**Evidence**")[0].lower()


def test_cronjobs_and_jobs_are_named_workloads_and_status_words_are_not():
    from assistant.runbook.entities import extract

    assert extract("the report-gen CronJob left 30 Completed pods").deployments == ["report-gen"]
    assert extract("job migrate-db never finishes").deployments == ["migrate-db"]
    # kubectl's kind/name: the word before the kind is not the name, the one after the slash is
    assert extract("completed pods for cronjob/report-gen pile up").deployments == ["report-gen"]
    assert extract("check deployment/checkout-api now").deployments == ["checkout-api"]


def test_what_fails_on_a_host_is_not_taken_for_a_service_name():
    from assistant.runbook.entities import extract

    assert extract("mysql won't start on db-mysql-04 since the patching").services == ["mysql"]
    assert extract("ledger-api on app-02 returns 500").services == ["ledger-api"]
    assert extract("pods in data namespace: CrashLoopBackOff since the update").namespaces == ["data"]


def test_evicted_pods_lead_to_the_nodes_events():
    pods = (
        "NAME                          READY   STATUS    RESTARTS   AGE\n"
        "storefront-6d7f8c9b5d-4b7kx   0/1     Evicted   0          4d\n"
        "storefront-6d7f8c9b5d-lq2sh   1/1     Running   0          6d"
    )
    s = Session(K8S, "storefront pods in namespace web show Evicted, why?")
    s.run({"list_pods": ok(pods)})
    assert ("k8s_events", {"namespace": "default"}) in s.asked


def test_evicted_pods_lead_to_the_nodes_status():
    pods = (
        "NAME                          READY   STATUS    RESTARTS   AGE\n"
        "storefront-6d7f8c9b5d-4b7kx   0/1     Evicted   0          4d\n"
        "storefront-6d7f8c9b5d-lq2sh   1/1     Running   0          6d"
    )
    s = Session(K8S, "storefront pods in namespace web show Evicted, why?")
    s.run({"list_pods": ok(pods)})
    assert ("node_status", {}) in s.asked
    healthy = Session(K8S, "storefront pods in namespace web are slow")
    healthy.run({"list_pods": ok(pods.replace("0/1     Evicted", "1/1     Running"))})
    assert not any(name == "node_status" for name, _ in healthy.asked)


def test_a_certificate_not_served_leads_to_the_servers_own_state_and_error_log():
    cert = """\
subject=CN = shop.example.com
notBefore=Apr  6 00:00:00 2025 GMT
notAfter=Apr  6 23:59:59 2026 GMT
verify=failed: certificate has expired
days_left=-1
status=EXPIRED"""
    s = Session(
        HOST, "nginx on web-01 serves an expired certificate for shop.example.com although we renewed it"
    )
    s.run({"tls_certificate": ok(cert)})
    assert ("service_status", {"service": "nginx"}) in s.asked
    assert any(n == "log_tail" and "nginx" in a["source"] for n, a in s.asked)


def test_a_dependency_named_by_host_and_port_is_resolved():
    s = Session(HOST, "checkout on app-01 gets connection refused from payments.internal:8443")
    s.step()
    assert ("dns_lookup", {"name": "payments.internal"}) in s.asked


def test_a_named_service_that_is_not_a_web_server_does_not_read_nginx_logs():
    s = Session(HOST, "checkout-api on app-01: uploads fail in the browser since the deploy")
    s.run({})
    assert not any(str(a.get("source", "")).startswith("/var/log/nginx") for _, a in s.asked)


def test_no_space_left_is_checked_on_the_services_own_data_directory():
    status = """\
× postgresql@16-main.service - PostgreSQL Cluster 16-main
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC
    Process: 811 ExecStart=/usr/bin/pg_ctlcluster --skip-systemctl-redirect 16-main start (code=exited, status=1/FAILURE)
Mar 03 10:00:09 db-01 postgresql@16-main[811]: PANIC:  could not write to file "pg_wal/xlogtemp.811": No space left on device"""
    df = "Filesystem Size Used Avail Use% Mounted on\n/dev/sdb1 200G 200G 0 100% /var/lib/postgresql"
    s = Session(HOST, "postgresql@16-main on db-01 crashed and does not come back")
    answer = s.run({"service_status": (status, 3, None), "disk_usage:/var/lib/postgresql/16/main": ok(df)})
    assert ("disk_usage", {"path": "/var/lib/postgresql/16/main"}) in s.asked
    assert "100%" in answer.split("**Evidence**")[0]


def test_a_pasted_pod_listing_names_its_namespaces_and_unhealthy_pods():
    s = Session(
        K8S,
        "kubectl get pods -A shows this, what is wrong?\n"
        "NAMESPACE   NAME                      READY   STATUS             RESTARTS      AGE\n"
        "pricing     pricer-7d9f8c6b5-x2k4p    0/1     CrashLoopBackOff   5 (30s ago)   4m\n",
    )
    s.step()
    assert ("pod_describe", {"pod": "pricer-7d9f8c6b5-x2k4p", "namespace": "pricing"}) in s.asked
    assert ("list_pods", {"namespace": "pricing"}) in s.asked


# ------------------------------------------------------------------ a daemon's own log, and leads in error lines

MYSQL_RUNNING = (
    "● mysql.service - MySQL Community Server\n"
    "     Loaded: loaded (/lib/systemd/system/mysql.service; enabled; vendor preset: enabled)\n"
    "     Active: active (running) since Tue 2026-12-01 03:12:09 UTC; 2 days ago\n"
    "   Main PID: 812 (mysqld)\n"
)


def test_a_quiet_journal_is_followed_by_the_daemons_own_log_file():
    s = Session(HOST, "replication on app-01 is broken, the mysql replica is hours behind")
    outputs = {
        "service_status:mysql": ok(MYSQL_RUNNING),
        "log_tail:unit:mysql": ok(
            "Dec 01 03:12:07 app-01 systemd[1]: Starting MySQL Community Server...\n"
            "Dec 01 03:12:09 app-01 systemd[1]: Started MySQL Community Server.\n"
        ),
    }
    s.run(outputs)
    sources = [a.get("source") for n, a in s.asked if n == "log_tail"]
    assert "unit:mysql" in sources
    assert "/var/log/mysql/error.log" in sources


def test_the_daemons_own_log_is_quoted_when_it_states_the_failure():
    s = Session(HOST, "replication on app-01 is broken, the mysql replica is hours behind")
    outputs = {
        "service_status:mysql": ok(MYSQL_RUNNING),
        "log_tail:/var/log/mysql/error.log": ok(
            "2026-12-03T08:01:12.118520Z 14 [ERROR] [MY-010584] [Repl] Replica SQL for channel '': Worker 1 "
            "failed executing transaction; Error 'Duplicate entry '4411' for key 'orders.PRIMARY'' on query, "
            "Error_code: MY-001062\n"
        ),
    }
    answer = s.run(outputs)
    sources = [a.get("source") for n, a in s.asked if n == "log_tail"]
    assert "/var/log/mysql/error.log" in sources
    assert "Duplicate entry" in answer


def test_a_backend_socket_in_a_proxy_error_leads_to_that_backend_and_its_log():
    s = Session(HOST, "the shop on app-01 returns 504 gateway timeouts")
    outputs = {
        "log_tail:/var/log/nginx/error.log": ok(
            "2026/12/03 08:14:02 [error] 1187#1187: *90211 upstream timed out (110: Connection timed out) while "
            'reading response header from upstream, client: 10.0.3.7, server: shop.example.com, request: "GET '
            '/cart HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock", host: "shop.example.com"\n'
        ),
    }
    s.run(outputs)
    assert ("service_status", {"service": "php8.2-fpm"}) in s.asked
    assert "/var/log/php8.2-fpm.log" in [a.get("source") for n, a in s.asked if n == "log_tail"]


def test_too_many_open_files_leads_to_open_files_for_that_process():
    s = Session(HOST, "nginx on app-01 drops connections")
    outputs = {
        "service_status:nginx": ok(
            "● nginx.service - A high performance web server and a reverse proxy server\n"
            "     Active: active (running) since Tue 2026-12-01 03:12:09 UTC; 2 days ago\n"
        ),
        "log_tail:/var/log/nginx/error.log": ok(
            "2026/12/03 08:20:11 [crit] 1187#1187: accept4() failed (24: Too many open files)\n"
            "2026/12/03 08:20:12 [crit] 1187#1187: accept4() failed (24: Too many open files)\n"
        ),
    }
    s.run(outputs)
    assert ("open_files", {"process": "nginx"}) in s.asked


def test_a_stuck_terminating_pod_and_its_stuck_replacement_are_both_described():
    s = Session(K8S, "the reports deployment in namespace analytics is down since a node died")
    outputs = {
        "list_pods": ok(
            "NAME                       READY   STATUS              RESTARTS   AGE\n"
            "reports-7d9f8c6b5d-8xk2p   1/1     Terminating         0          3d\n"
            "reports-7d9f8c6b5d-q4w7n   0/1     ContainerCreating   0          12m\n"
        ),
    }
    s.run(outputs)
    described = [a["pod"] for n, a in s.asked if n == "pod_describe"]
    assert "reports-7d9f8c6b5d-8xk2p" in described
    assert "reports-7d9f8c6b5d-q4w7n" in described


def test_a_log_directory_on_the_command_line_names_the_log_file():
    s = Session(HOST, "elasticsearch on app-01 fails every write with errors")
    outputs = {
        "service_status:elasticsearch": ok(
            "● elasticsearch.service - Elasticsearch\n"
            "     Active: active (running) since Tue 2026-12-01 03:12:09 UTC; 2 days ago\n"
            "     CGroup: /system.slice/elasticsearch.service\n"
            "             └─901 /usr/share/elasticsearch/jdk/bin/java -Xms4g -Xmx4g "
            "-Des.path.home=/usr/share/elasticsearch -Des.path.conf=/etc/elasticsearch "
            "-Des.path.logs=/var/log/search-logs -cp /usr/share/elasticsearch/lib/*\n"
        ),
    }
    s.run(outputs)
    assert "/var/log/search-logs/elasticsearch.log" in [
        a.get("source") for n, a in s.asked if n == "log_tail"
    ]


def test_a_versioned_unit_name_finds_its_own_log_after_a_quiet_journal():
    s = Session(HOST, "php8.2-fpm on app-01 is failing requests")
    outputs = {
        "service_status:php8.2-fpm": ok(
            "● php8.2-fpm.service - The PHP 8.2 FastCGI Process Manager\n"
            "     Active: active (running) since Tue 2026-12-01 03:12:09 UTC; 2 days ago\n"
        ),
        "log_tail:unit:php8.2-fpm": ok(
            "Dec 01 03:12:09 app-01 systemd[1]: Started The PHP 8.2 FastCGI Process Manager.\n"
        ),
    }
    s.run(outputs)
    assert "/var/log/php8.2-fpm.log" in [a.get("source") for n, a in s.asked if n == "log_tail"]


def test_a_named_unit_that_looks_running_still_has_its_logs_read():
    s = Session(HOST, "what is going on with redis-server on app-01 after the upgrade?")
    outputs = {
        "service_status:redis-server": ok(
            "● redis-server.service - Advanced key-value store\n"
            "     Active: active (running) since Thu 2026-12-03 07:58:10 UTC; 40min ago\n"
        ),
    }
    s.run(outputs)
    sources = [a.get("source") for n, a in s.asked if n == "log_tail"]
    assert "/var/log/redis/redis-server.log" in sources or "unit:redis-server" in sources


def test_emfile_in_a_journal_names_the_program_that_logged_it():
    s = Session(HOST, "notify-gateway on app-01 keeps failing to send, the queue is growing")
    outputs = {
        "service_status:notify-gateway": ok(
            "● notify-gateway.service - Notification gateway\n"
            "     Active: active (running) since Mon 2026-11-30 06:02:11 UTC; 3 days ago\n"
            "   Main PID: 812 (node)\n"
        ),
        "log_tail:unit:notify-gateway": ok(
            "Dec 03 08:14:02 app-01 node[812]: Error: connect EMFILE 10.0.4.12:5672 - Local (undefined:undefined)\n"
            "Dec 03 08:14:03 app-01 node[812]: Error: EMFILE: too many open files, open "
            "'/srv/notify/templates/welcome.html'\n"
        ),
    }
    s.run(outputs)
    assert ("open_files", {"process": "node"}) in s.asked


def test_a_named_deployment_after_a_rollout_leads_to_its_rollout_status():
    s = Session(K8S, "payments-api deployment in namespace shop fails since the rollout")
    s.step()
    assert ("rollout_status", {"deployment": "payments-api", "namespace": "shop"}) in s.asked
    plain = Session(K8S, "pods in namespace shop restart, why?")
    plain.step()
    assert not any(name == "rollout_status" for name, _ in plain.asked)


def test_no_namespace_named_and_no_pods_found_lists_every_namespace():
    empty = {"list_pods:default": ok("No resources found in default namespace.")}
    s = Session(K8S, "the checkout pods keep crashing, why?")
    s.run(empty)
    assert ("list_pods", {"all_namespaces": True}) in s.asked
    named = Session(K8S, "the checkout pods in namespace shop keep crashing, why?")
    named.run({"list_pods:shop": ok("No resources found in shop namespace.")})
    assert not any(a.get("all_namespaces") for n, a in named.asked if n == "list_pods")


def test_events_that_blame_a_node_lead_to_node_status():
    events = (
        "LAST SEEN   TYPE      REASON    OBJECT                            MESSAGE\n"
        "2m          Normal    NodeNotReady   pod/api-7d9f8c6b5d-x2x9q     "
        "Node is not ready\n"
    )
    s = Session(K8S, "api in namespace shop keeps losing pods")
    s.run({"k8s_events": ok(events), "list_pods": ok("No resources found in shop namespace.")})
    assert ("node_status", {}) in s.asked


def test_where_the_engineer_says_it_happens_and_an_add_ons_home_are_tried_as_namespaces():
    from assistant.runbook.entities import place_words

    assert place_words("checkout pods never become ready in payments-eu after the release") == ["payments-eu"]
    assert place_words("stuck in Pending in the morning, errors in /var/log/app.log, in prod") == []
    s = Session(K8S, "checkout pods never become ready in payments-eu after the release")
    s.run({})
    assert ("list_pods", {"namespace": "payments-eu"}) in s.asked
    s = Session(K8S, "the promtail daemonset has no pod on the two new nodes")
    s.run({})
    tried = [a.get("namespace") for n, a in s.asked if n == "list_pods"]
    assert "logging" in tried and "monitoring" in tried


def test_the_logs_of_a_component_the_engineer_names_are_read_from_its_pods():
    from assistant.runbook.entities import log_subjects

    assert log_subjects("the ingress-nginx controller logs show 502s; logs of cert-manager too") == [
        "ingress-nginx",
        "cert-manager",
    ]
    assert log_subjects("the app logs are full of errors, in the logs I see") == []
    s = Session(
        K8S, "CoreDNS logs are full of SERVFAIL for the orders lookups. Is DNS broken for namespace orders?"
    )
    listing = "NAME                       READY   STATUS    RESTARTS   AGE\ncoredns-5d78c9869d-7xq2m   1/1     Running   0          9d\n"
    s.run({"list_pods:kube-system": ok(listing)})
    assert ("list_pods", {"namespace": "kube-system", "selector": "k8s-app=kube-dns"}) in s.asked
    assert ("pod_logs", {"pod": "coredns-5d78c9869d-7xq2m", "namespace": "kube-system"}) in s.asked


def test_a_programs_own_line_in_the_status_tail_is_followed_by_its_units_journal():
    status = """\
● billing-api.service - Billing API
     Active: active (running) since Mon 2026-11-23 02:00:11 UTC; 7h ago
   Main PID: 1822 (java)
Nov 23 09:01:12 app-01 java[1822]: 2026-11-23 09:01:12 ERROR o.a.t.u.n.NioEndpoint : Socket accept failed \
java.io.IOException: Too many open files"""
    s = Session(HOST, "billing-api on app-01 returns 500s after a few hours; a restart helps for a while")
    s.run({"service_status": ok(status)})
    assert ("log_tail", {"source": "unit:billing-api", "lines": 100}) in s.asked


def test_a_remote_name_the_engineer_gives_is_resolved_when_evidence_runs_out():
    s = Session(HOST, "the nightly export job on app-01 fails: it cannot upload to files.partner.example.org")
    s.run({})
    assert ("dns_lookup", {"name": "files.partner.example.org"}) in s.asked


def test_a_failed_daemon_whose_journal_has_only_systemds_lines_gets_its_own_log_read():
    status = """\
× mysql.service - MySQL Community Server
     Active: failed (Result: exit-code) since Tue 2026-03-03 06:12:09 UTC; 3min ago
   Main PID: 2231 (code=exited, status=1/FAILURE)
Mar 03 06:12:09 app-01 systemd[1]: mysql.service: Failed with result 'exit-code'."""
    journal = (
        "Mar 03 06:12:08 app-01 systemd[1]: Starting MySQL Community Server...\n"
        "Mar 03 06:12:09 app-01 systemd[1]: mysql.service: Main process exited, code=exited, status=1/FAILURE\n"
        "Mar 03 06:12:09 app-01 systemd[1]: Failed to start MySQL Community Server.\n"
    )
    own = "2026-03-03T06:12:08.915012Z 0 [ERROR] [MY-010262] [Server] Can't start server: Bind on TCP/IP port: Address already in use\n"
    s = Session(HOST, "mysql on app-01 is down since the reboot")
    answer = s.run(
        {
            "service_status": (status, 3, None),
            "log_tail:unit:mysql": ok(journal),
            "log_tail:/var/log/mysql/error.log": ok(own),
        }
    )
    assert ("log_tail", {"source": "/var/log/mysql/error.log", "lines": 100}) in s.asked
    assert "Address already in use" in answer


def test_a_failed_start_names_the_specific_reason_its_own_log_gives_not_the_wrappers_exit():
    status = """\
× postgresql@16-main.service - PostgreSQL Cluster 16-main
     Active: failed (Result: protocol) since Tue 2026-03-03 06:12:09 UTC; 3min ago
Mar 03 06:12:09 db-01 postgresql@16-main[2231]: Error: /usr/lib/postgresql/16/bin/pg_ctl start -D \
/var/lib/postgresql/16/main -l /var/log/postgresql/postgresql-16-main.log -s exited with status 1:
Mar 03 06:12:09 db-01 systemd[1]: postgresql@16-main.service: Failed with result 'protocol'."""
    own = '2026-03-03 06:12:09.101 UTC [2233] PANIC:  could not write to file "pg_wal/xlogtemp.2233": No space left on device\n'
    s = Session(HOST, "postgres on app-01 is down and won't come back")
    answer = s.run(
        {"service_status": (status, 3, None), "log_tail:/var/log/postgresql/postgresql-16-main.log": ok(own)}
    )
    assert "No space left on device" in answer.split("**Evidence**")[0]


def test_a_units_fd_exhaustion_gets_a_manual_fix_naming_that_unit():
    from assistant.findings import analyze_text
    from assistant.runbook.manual import for_finding

    journal = "Nov 23 03:01:07 api-prod-03 orders-api[2231]: OSError: [Errno 24] Too many open files"
    (found,) = [
        f
        for f in analyze_text("log_tail", journal, args={"source": "unit:orders-api"})
        if f.signature == "fd-exhausted"
    ]
    assert found.title.startswith("orders-api ran out of file descriptors")
    fix = for_finding(found)
    assert fix is not None
    text = str(fix)
    assert "orders-api.service.d" in text and "<UNIT>" not in text
