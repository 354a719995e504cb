"""Generic evidence: whatever failure an output states becomes a finding with its exact lines, however the
output is shaped; known-benign output never does.

Each test is one class of real output (journal, app logs, kubectl tables and events, systemctl, free, df),
written the way the real commands print it.
"""

from __future__ import annotations

import pytest

from assistant.events import Finding
from assistant.findings import analyze_text
from assistant.findings.benign import BENIGN, benign
from assistant.findings.k8s_text import parse_events, parse_pod_list, pod_list_unreadable, seconds
from assistant.findings.logtext import looks_cut, read_line, shape
from assistant.findings.signatures import SIGNATURES


def by_sig(found: list[Finding], signature: str) -> list[Finding]:
    return [f for f in found if f.signature == signature]


def quoted_exactly(found: list[Finding], text: str) -> None:
    for f in found:
        for ev in f.evidence:
            for line in ev.lines:
                assert line in text, f"{f.signature}: evidence line not in output: {line!r}"


# ------------------------------------------------------------------ error lines, grouped by shape


APP_JOURNAL = """\
Mar 03 10:01:02 app-01 billing[811]: INFO starting billing v2.3.1
Mar 03 10:01:05 app-01 billing[811]: ERROR could not connect to ledger.internal:7000: connection reset by peer
Mar 03 10:01:15 app-01 billing[811]: ERROR could not connect to ledger.internal:7000: connection reset by peer
Mar 03 10:02:15 app-01 billing[811]: ERROR could not connect to ledger.internal:7000: connection reset by peer
Mar 03 10:02:16 app-01 billing[811]: INFO retrying in 60s
"""


def test_error_lines_grouped_by_shape_with_count_and_first_last_time():
    found = analyze_text("log_tail", APP_JOURNAL, args={"source": "unit:billing"})
    quoted_exactly(found, APP_JOURNAL)
    [group] = by_sig(found, "error-lines")
    assert group.facts["count"] == 3 and group.facts["level"] == "error"
    assert group.facts["first"] == "Mar 03 10:01:05" and group.facts["last"] == "Mar 03 10:02:15"
    assert group.facts["program"] == "billing" and group.severity == "medium"
    assert [(c.tool, c.args) for c in group.checks] == [("dns_lookup", {"name": "ledger.internal"})]


def test_same_lines_without_hostnames_iso_timestamps_and_stdout_framing():
    iso = "\n".join(
        f"stderr: 2026-03-03T10:01:0{i}.120Z ERROR worker {i} failed: ledger rejected batch {i}"
        for i in range(4)
    )
    found = by_sig(analyze_text("pod_logs", iso, args={"pod": "w-1"}), "error-lines")
    assert len(found) == 1 and found[0].facts["count"] == 4
    assert found[0].facts["first"] == "2026-03-03T10:01:00.120Z"
    no_host = "Mar 03 10:01:05 billing[811]: ERROR ledger unavailable"
    line = read_line(no_host)
    assert line.program == "billing" and line.message == "ERROR ledger unavailable"


def test_traceback_is_one_event_named_by_its_exception_and_frame():
    text = """\
Apr 16 13:02:18 cms-01 gunicorn[30413]: [ERROR] Exception in worker process
Apr 16 13:02:18 cms-01 gunicorn[30413]: Traceback (most recent call last):
Apr 16 13:02:18 cms-01 gunicorn[30413]:   File "/srv/cms/cms/settings.py", line 88
Apr 16 13:02:18 cms-01 gunicorn[30413]:     CACHES = {
Apr 16 13:02:18 cms-01 gunicorn[30413]: SyntaxError: '{' was never closed
"""
    found = by_sig(analyze_text("log_tail", text, args={"source": "unit:cms"}), "error-lines")
    first = found[0]
    assert first.facts["level"] == "fatal" and "SyntaxError" in first.title and "settings.py" in first.title
    assert not any("CACHES" in f.title for f in found)  # a frame is not an error of its own


def test_specific_signatures_are_not_repeated_as_generic_lines():
    text = 'nginx: [emerg] unknown directive "proxy_passs" in /etc/nginx/sites-enabled/shop.conf:12'
    assert [f.signature for f in analyze_text("log_tail", text)] == ["config-test-failed"]


def test_running_unit_history_before_its_last_start_is_not_a_failure():
    text = """\
● api.service - API
     Active: active (running) since Tue 2026-03-03 10:05:00 UTC; 2h ago
Mar 03 10:04:58 app-01 api[700]: ERROR database is starting up
Mar 03 10:05:00 app-01 systemd[1]: Started api.service - API.
"""
    assert by_sig(analyze_text("service_status", text, args={"service": "api"}), "error-lines") == []


def test_crashed_container_last_words_are_evidence():
    text = "listening on :8080\nexec /app/pricing: exec format error\n"
    found = analyze_text(
        "pod_logs", "starting\nshutting down after signal\n", args={"pod": "p-1", "previous": True}
    )
    assert by_sig(found, "error-lines")[0].evidence[0].lines == ["shutting down after signal"]
    assert by_sig(analyze_text("pod_logs", text, args={"pod": "p", "previous": True}), "exec-format-error")


def test_tool_notes_about_their_own_input_are_not_failures():
    for text in ("Unit email-sender.service could not be found.", "-- No entries --"):
        assert analyze_text("service_status", text, args={"service": "email-sender"}) == []


@pytest.mark.parametrize("entry", BENIGN, ids=lambda b: b.name)
def test_each_known_benign_class_matches_its_real_line(entry):
    samples = {
        "web-404-probe": '2026/07/15 11:08:02 [error] 1012#1012: *88121 open() "/var/www/html/wp-login.php" failed '
        "(2: No such file or directory), client: 45.148.10.80, server: _",
        "client-went-away": "2026/07/15 11:08:02 [info] 12#12: *9 client closed keepalive connection",
        "ssh-internet-noise": "Jul 15 11:08:02 web-01 sshd[991]: Failed password for invalid user admin from "
        "203.0.113.9 port 51234 ssh2",
        "unit-success": "Jul 15 03:00:04 db-01 systemd[1]: pg-backup.service: Deactivated successfully.",
        "journal-rotated": "Warning: journal has been rotated since unit was started, output may be incomplete.",
        "kubectl-notice": 'Defaulted container "app" out of: app, istio-proxy (init)',
        "zero-count": "2026-07-15T03:00:04Z INFO backup finished: 0 errors, 1203 files",
        "self-healed-retry": "WARN upstream reset, retrying (attempt 2) ... succeeded",
        "mount-permission-noise": "df: /run/user/1000/doc: Operation not permitted",
        "error-level-config": "root  911  0.0  0.1 nginx: master process /usr/sbin/nginx -g error_log stderr;",
        "tls-handshake-probe": "2026/07/15 11:08:02 http: TLS handshake error from 10.0.4.17:52144: EOF",
        "firmware-noise": "Jul 15 06:00:01 web-01 kernel: ACPI BIOS Error (bug): Could not resolve symbol "
        "[\\_SB.PCI0.LPCB.HPET], AE_NOT_FOUND (20230628/dswload2-162)",
        "grpc-transport-closing": "2026-07-15T11:08:02Z INFO grpc: [transport] loopyWriter.run returning. "
        'connection error: desc = "transport is closing"',
        "kubectl-discovery-noise": "E0715 11:08:02.123456   4242 memcache.go:265] couldn't get current server "
        "API group list: the server is currently unable to handle the request",
        "kubelet-cgroup-stats-noise": r'E0715 11:08:02.123456  811 summary_sys_containers.go:48] "Failed to get '
        r'system container stats" err="failed to get cgroup stats for \"/system.slice/docker.service\": failed '
        r'to get container info" containerName="/system.slice/docker.service"',
        "db-starting-up": "2026-07-15 11:08:02.101 UTC [212] FATAL:  the database system is starting up",
        "apparmor-snap-noise": "Jul 15 11:08:02 web-01 kernel: audit: type=1400 audit(1709460001.123:88): "
        'apparmor="DENIED" operation="open" profile="snap.lxd.daemon" name="/proc/1/environ" pid=1 comm="lxd"',
        "apparmor-capability-noise": "[1987733.420118] audit: type=1400 audit(1795472049.412:3311): "
        'apparmor="DENIED" operation="capable" class="cap" profile="/usr/sbin/cupsd" pid=881 comm="cupsd" '
        'capability=12  capname="net_admin"',
        "http-request-record": '203.0.113.7 - - [15/Jul/2026:11:08:02 +0000] "GET /api/payments/failed HTTP/1.1" '
        '200 512 "-" "Mozilla/5.0"',
        "dns-search-path-nxdomain": '[INFO] 10.244.2.31:41822 - 51203 "A IN api.example.com.payments.svc.cluster.local. '
        'udp 83 false 1232" NXDOMAIN qr,aa,rd 176 0.000142s',
        "deprecation-notice": "Jul 15 11:08:02 app-03 gunicorn[88131]: /opt/app/venv/lib/python3.12/site-packages/"
        "app/money.py:14: DeprecationWarning: datetime.datetime.utcnow() is deprecated and scheduled for removal",
        "dns-no-data": "*** Can't find api.example.com: No answer",
        "journald-file-replaced": "Dec  3 06:25:03 web-01 systemd-journald[402]: File /var/log/journal/8f1e2d/"
        "system.journal corrupted or uncleanly shut down, renaming and replacing.",
        "kubelet-invalid-disk-capacity": "41m         Warning   InvalidDiskCapacity    Node/ip-10-0-12-88   invalid "
        "capacity 0 on image filesystem",
        "alert-resolved": "Jul 15 11:08:02 ops-01 alert-relay[912]: [RESOLVED] HighErrorRate api 5xx error rate "
        "above 5% (resolved after 4m)",
        "dns-config-forming": "3m          Warning   DNSConfigForming   Pod/web-5d8f7c6b9d-abcde   Nameserver limits "
        "were exceeded, some nameservers have been omitted, the applied nameserver line is: 10.0.0.2 10.0.0.3 10.0.0.4",
        "kube-root-ca-not-registered": "12m         Warning   FailedMount   Pod/web-5d8f7c6b9d-abcde   MountVolume.SetUp "
        'failed for volume "kube-api-access-7q2lm" : object "web"/"kube-root-ca.crt" not registered',
        "pid-file-not-yet": "Mar 14 02:10:01 db-01 systemd[1]: postgresql@15-main.service: Can't open PID file "
        "/run/postgresql/15-main.pid (yet?) after start: No such file or directory",
        "retry-policy": "2026-03-14T02:10:01Z INFO-less start: connecting to ledger, will retry up to 5 times "
        "before giving up",
        "output-cut-marker": "… [18234 characters truncated] …",
        "redis-startup-advice": "1:M 14 Mar 2026 02:10:01.123 # WARNING Memory overcommit must be enabled! Without "
        "it, a background save or replication may fail under low memory condition.",
        "startup-wait-resolved": "2026-03-14T02:10:01Z waiting for postgres at db:5432: not ready yet",
        "lb-maintenance": "Mar 14 02:10:01 lb1 haproxy[812]: Server be_api/api-02 is going DOWN for maintenance. "
        "1 active and 0 backup servers left.",
    }
    resolved = {
        "db-starting-up": "2026-07-15 11:08:03.512 UTC [1] LOG:  database system is ready to accept connections",
        "dns-search-path-nxdomain": '[INFO] 10.244.2.31:50112 - 47013 "A IN api.example.com. udp 56 false 1232" '
        "NOERROR qr,rd,ra 108 0.012233s",
        "startup-wait-resolved": "2026-03-14T02:10:04Z postgres at db:5432 is ready, starting workers",
    }
    line = samples[entry.name]
    after = resolved.get(entry.name)
    assert benign(line, (lambda: after) if after else None) is entry
    text = line + ("\n" + after if after else "")
    assert by_sig(analyze_text("log_tail", text), "error-lines") == []
    if (
        entry.resolved_by is not None
    ):  # without the line that shows it resolved (started, answered): a failure
        assert benign(line) is None
        assert [f for f in analyze_text("log_tail", line) if f.severity != "info"]


def test_warnings_printed_on_every_healthy_run_are_not_failures():
    text = (
        "Warning: journal has been rotated since unit was started, output may be incomplete.\n"
        "Jul 15 03:00:04 db-01 systemd[1]: pg-backup.service: Deactivated successfully."
    )
    assert analyze_text("log_tail", text, args={"source": "unit:pg-backup"}) == []


def test_shape_and_cut_output():
    assert shape("timeout after 30s to 10.0.0.4:5432 (pid 811)") == shape(
        "timeout after 5s to 10.0.0.9:5432 (pid 9)"
    )
    assert looks_cut('{"level":"error","msg":"conn') and looks_cut("line\n[output truncated]")
    assert not looks_cut("all good\n")


# ------------------------------------------------------------------ Kubernetes, any shape


PODS_A_WIDE = """\
NAMESPACE   NAME                     READY   STATUS                       RESTARTS      AGE   IP            NODE     NOMINATED NODE   READINESS GATES
shop        api-5c9f7d8b6-8xk2m      1/1     Running                      0             5d    10.244.1.7    node-1   <none>           <none>
shop        cart-7d9f8c6b5-x2k4p     0/1     CreateContainerConfigError   0             3m    10.244.2.9    node-2   <none>           <none>
kube-system coredns-5d78c9869d-abcde 1/1     Running                      2 (3d ago)    9d    10.244.0.3    node-1   <none>           <none>
"""


def test_pod_list_with_namespace_column_wide_columns_no_header_and_framing():
    rows = parse_pod_list(PODS_A_WIDE)
    assert [(r.namespace, r.name, r.status) for r in rows][:2] == [
        ("shop", "api-5c9f7d8b6-8xk2m", "Running"),
        ("shop", "cart-7d9f8c6b5-x2k4p", "CreateContainerConfigError"),
    ]
    grepped = "\n".join(ln for ln in PODS_A_WIDE.splitlines()[1:] if "cart" in ln or "api" in ln)
    assert [r.name for r in parse_pod_list(grepped)] == ["api-5c9f7d8b6-8xk2m", "cart-7d9f8c6b5-x2k4p"]
    plain = "stdout: NAME   READY   STATUS    RESTARTS   AGE\nstdout: web-0  1/1     Running   0          1d"
    assert [r.name for r in parse_pod_list(plain)] == ["web-0"]


def test_unreadable_pod_list_is_never_zero_pods():
    assert pod_list_unreadable("error: You must be logged in to the server (Unauthorized)")
    assert not pod_list_unreadable("No resources found in shop namespace.")
    assert not pod_list_unreadable(PODS_A_WIDE)


EVENTS = """\
NAMESPACE   LAST SEEN              TYPE      REASON             OBJECT                              MESSAGE
team-ml     2m10s (x23 over 41m)   Warning   FailedCreate       replicaset/model-api-7c8d9e6f5b     Error creating: pods "model-api-7c8d9e6f5b-q7zzt" is forbidden: exceeded quota: team-ml-quota
team-ml     5m                     Warning   FailedMount        pod/jupyter-ana-0                   MountVolume.SetUp failed for volume "tls" : secret "jupyter-tls" not found
team-ml     6m52s (x4 over 7m)     Warning   Unhealthy          pod/model-api-7c8d9e6f5b-5kq2x      Readiness probe failed: HTTP probe failed with statuscode: 503
team-ml     41m                    Normal    ScalingReplicaSet  deployment/model-api                Scaled up replica set model-api-7c8d9e6f5b to 6
"""


def test_every_warning_event_is_a_finding_and_repeated_ages_are_read():
    events = parse_events(EVENTS)
    assert [e.reason for e in events] == ["FailedCreate", "FailedMount", "Unhealthy", "ScalingReplicaSet"]
    found = analyze_text("k8s_events", EVENTS, args={"namespace": "team-ml"})
    quoted_exactly(found, EVENTS)
    warnings = {f.facts["reason"]: f for f in by_sig(found, "k8s-warning")}
    assert set(warnings) == {"FailedCreate", "FailedMount"}
    assert "exceeded quota" in warnings["FailedCreate"].title
    [probe] = by_sig(found, "probe-failing")
    assert probe.severity == "info"  # four failures seven minutes ago, none since: start-up, over


def test_event_ages_in_seconds():
    assert seconds("6m52s") == 412 and seconds("2d4h") == 187200 and seconds("<unknown>") is None


DESCRIBE_STARTED = """\
Name:             search-frontend-77c8d9f6b5-5dkq9
Namespace:        search
Status:           Running
Containers:
  web:
    State:          Running
      Started:      Mon, 02 Mar 2026 10:00:10 +0000
    Ready:          True
    Restart Count:  0
Conditions:
  Type              Status
  Ready             True
Events:
  Type     Reason     Age                From     Message
  ----     ------     ----               ----     -------
  Warning  Unhealthy  9m (x3 over 9m)    kubelet  Readiness probe failed: HTTP probe failed with statuscode: 503
"""


def test_readiness_failures_during_start_up_that_end_in_ready_are_benign():
    [probe] = analyze_text("pod_describe", DESCRIBE_STARTED, args={"namespace": "search"})
    assert probe.signature == "probe-failing" and probe.severity == "info"
    sick = DESCRIBE_STARTED.replace("Ready:          True", "Ready:          False")
    assert by_sig(analyze_text("pod_describe", sick), "probe-failing")[0].severity == "medium"


def test_apparmor_denial_of_a_file_is_still_a_failure():
    line = (
        'Jul 15 11:08:02 db-01 kernel: audit: type=1400 audit(1709460001.123:88): apparmor="DENIED" '
        'operation="open" profile="/usr/sbin/mysqld" name="/data/mysql/ibdata1" pid=912 comm="mysqld"'
    )
    assert benign(line) is None
    assert [f for f in analyze_text("log_tail", line) if f.severity != "info"]


EVENTS_READINESS = """\
LAST SEEN   TYPE      REASON      OBJECT                        MESSAGE
{age}   Warning   Unhealthy   pod/recs-5d8f7c6b9d-abcde     Readiness probe failed: Get "http://10.0.2.4:8080/ready": context deadline exceeded
"""


def test_readiness_failures_that_stopped_long_ago_are_benign_and_recent_ones_are_not():
    old = analyze_text(
        "k8s_events", EVENTS_READINESS.format(age="25m (x40 over 55m)"), args={"namespace": "recs"}
    )
    assert [(f.signature, f.severity) for f in old if f.signature == "probe-failing"] == [
        ("probe-failing", "info")
    ]
    live = analyze_text(
        "k8s_events", EVENTS_READINESS.format(age="20s (x40 over 55m)"), args={"namespace": "recs"}
    )
    assert [(f.signature, f.severity) for f in live if f.signature == "probe-failing"] == [
        ("probe-failing", "medium")
    ]


def test_readiness_failures_of_a_pod_ready_now_are_benign_whatever_its_restarts():
    restarted = DESCRIBE_STARTED.replace("Restart Count:  0", "Restart Count:  2")
    [probe] = by_sig(analyze_text("pod_describe", restarted), "probe-failing")
    assert probe.severity == "info"
    liveness = restarted.replace("Readiness probe failed", "Liveness probe failed")
    assert by_sig(analyze_text("pod_describe", liveness), "probe-failing")[0].severity == "high"


DESCRIBE_CONFIG = """\
Name:             cart-7d9f8c6b5-x2k4p
Namespace:        shop
Status:           Pending
Controlled By:    ReplicaSet/cart-7d9f8c6b5
Init Containers:
  migrate:
    State:          Terminated
      Reason:       Completed
      Exit Code:    0
    Ready:          True
Containers:
  cart:
    State:          Waiting
      Reason:       CreateContainerConfigError
    Ready:          False
    Restart Count:  0
Conditions:
  Type              Status
  Initialized       True
  Ready             False
Events:
  Type     Reason  Age                From     Message
  ----     ------  ----               ----     -------
  Warning  Failed  2m (x12 over 4m)   kubelet  Error: configmap "cart-config" not found
"""


def test_waiting_reason_and_its_event_are_findings_and_false_conditions_are_only_a_fallback():
    found = analyze_text("pod_describe", DESCRIBE_CONFIG)
    quoted_exactly(found, DESCRIBE_CONFIG)
    [state] = by_sig(found, "container-not-running")
    assert state.facts["reason"] == "CreateContainerConfigError" and state.facts["container"] == "cart"
    assert 'configmap "cart-config" not found' in by_sig(found, "k8s-warning")[0].title
    assert by_sig(found, "pod-condition-false") == []  # explained by the findings above
    bare = DESCRIBE_CONFIG.split("Events:")[0].replace("CreateContainerConfigError", "ContainerCreating")
    [cond] = by_sig(analyze_text("pod_describe", bare), "pod-condition-false")
    assert cond.facts["conditions"] == ["Ready"]


def test_node_conditions_and_not_ready_nodes():
    describe_node = """\
Name:               ip-10-1-33-12.ec2.internal
Conditions:
  Type             Status  LastHeartbeatTime                 LastTransitionTime                Reason                       Message
  ----             ------  -----------------                 ------------------                ------                       -------
  MemoryPressure   True    Mon, 02 Mar 2026 10:00:00 +0000   Mon, 02 Mar 2026 09:40:00 +0000   KubeletHasInsufficientMemory kubelet has insufficient memory available
  Ready            True    Mon, 02 Mar 2026 10:00:00 +0000   Mon, 01 Mar 2026 08:00:00 +0000   KubeletReady                 kubelet is posting ready status
"""
    [node] = analyze_text("log_tail", describe_node)
    assert node.signature == "node-condition" and node.facts["conditions"] == ["MemoryPressure"]
    nodes = (
        "NAME     STATUS     ROLES    AGE   VERSION\nnode-1   Ready      <none>   9d    v1.29.3\n"
        "node-2   NotReady   <none>   9d    v1.29.3\n"
    )
    assert by_sig(analyze_text("log_tail", nodes), "node-condition")[0].facts["conditions"] == ["NotReady"]


def test_scheduling_failure_answered_by_a_scale_up_is_benign():
    text = """\
LAST SEEN   TYPE      REASON             OBJECT                           MESSAGE
16m         Warning   FailedScheduling   Pod/checkout-7b8c9d6e5f-q2d7w    0/4 nodes are available: 4 Insufficient cpu.
16m         Normal    TriggeredScaleUp   Pod/checkout-7b8c9d6e5f-q2d7w    pod triggered scale-up: [{eks-general 4->5 (max: 10)}]
"""
    [f] = analyze_text("k8s_events", text, args={"namespace": "checkout"})
    assert f.signature == "pod-unschedulable" and f.severity == "info"
    alone = text.splitlines()[0] + "\n" + text.splitlines()[1]
    assert analyze_text("k8s_events", alone)[0].severity == "high"


# ------------------------------------------------------------------ systemd results and thresholds


def test_oneshot_unit_that_exited_zero_is_not_a_failure():
    text = """\
○ pg-backup.service - Nightly PostgreSQL backup
     Loaded: loaded (/etc/systemd/system/pg-backup.service; static)
     Active: inactive (dead) since Tue 2026-03-03 03:00:41 UTC; 7h ago
TriggeredBy: ● pg-backup.timer
    Process: 5521 ExecStart=/usr/local/bin/pg-backup (code=exited, status=0/SUCCESS)
Mar 03 03:00:41 db-01 systemd[1]: pg-backup.service: Deactivated successfully.
"""
    assert analyze_text("service_status", text, args={"service": "pg-backup"}) == []
    stopped = text.replace("status=0/SUCCESS", "status=1/FAILURE").replace(
        "Deactivated successfully", "Failed"
    )
    assert by_sig(analyze_text("service_status", stopped, args={"service": "pg-backup"}), "unit-failed")


def test_restart_counter_start_limit_and_missing_environment_file():
    text = """\
× gateway.service - API gateway
     Loaded: loaded (/etc/systemd/system/gateway.service; enabled)
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC; 1min ago
Mar 03 10:00:05 gw-01 systemd[1]: gateway.service: Scheduled restart job, restart counter is at 5.
Mar 03 10:00:09 gw-01 systemd[1]: gateway.service: Failed to load environment files: No such file or directory
Mar 03 10:00:09 gw-01 systemd[1]: gateway.service: Start request repeated too quickly.
"""
    found = analyze_text("service_status", text, args={"service": "gateway"})
    quoted_exactly(found, text)
    [unit] = by_sig(found, "unit-failed")
    assert unit.facts["restarts"] == 5 and unit.facts["start_limit"] is True
    [env] = by_sig(found, "unit-environment-missing")
    assert env.facts["unit"] == "gateway" and [c.tool for c in env.fixes] == ["restart_service"]


def test_thresholds_memory_load_fds_and_tasks():
    free = """\
 11:04:51 up 102 days, 19:30,  1 user,  load average: 14.21, 13.80, 12.95
               total        used        free      shared  buff/cache   available
Mem:            1967        1871          38           4          57           21
CPU(s): 2
"""
    sigs = {f.signature for f in analyze_text("host_resources", free)}
    assert sigs == {"memory-exhausted", "cpu-overloaded"}
    healthy = free.replace("21\n", "1500\n").replace("14.21, 13.80", "0.21, 0.30")
    assert analyze_text("host_resources", healthy) == []
    fds = "2026/03/03 10:00:01 [crit] 911#911: accept4() failed (24: Too many open files)"
    assert by_sig(analyze_text("log_tail", fds, args={"source": "/var/log/nginx/error.log"}), "fd-exhausted")
    tasks = "     Tasks: 4915 (limit: 4915)\nMar 03 app[1]: fork: retry: Resource temporarily unavailable"
    assert by_sig(analyze_text("service_status", tasks, args={"service": "app"}), "tasks-exhausted")


# ------------------------------------------------------------------ failure classes known by their message


@pytest.mark.parametrize(
    "signature,line",
    [
        (
            "fs-read-only",
            "Mar 03 10:00:01 files-02 kernel: EXT4-fs error (device sdb1): ext4_journal_check_start: "
            "Detected aborted journal",
        ),
        (
            "conntrack-full",
            "Nov 20 20:05:11 lb-03 kernel: nf_conntrack: nf_conntrack: table full, dropping packet",
        ),
        ("ports-exhausted", "connect() to 10.4.0.20:8443 failed (99: Cannot assign requested address)"),
        (
            "workers-exhausted",
            "[mpm_prefork:error] [pid 1] AH00161: server reached MaxRequestWorkers setting",
        ),
        ("cache-maxmemory", "OOM command not allowed when used memory > 'maxmemory'."),
        (
            "queue-resource-alarm",
            "2026-05-26 16:50:01 [warning] <0.1.0> disk resource limit alarm set on node rabbit@mq-01",
        ),
        ("request-too-large", "client intended to send too large body: 4194304 bytes, client: 10.0.0.5"),
        ("wal-archive-failing", "2026-03-03 10:00:01 UTC [77] LOG:  archive command failed with exit code 1"),
        ("instance-lock-held", "DBPathInUse: Unable to lock the lock file: /var/lib/mongodb/mongod.lock"),
        ("tls-verify-failed", "verify error:num=20:unable to get local issuer certificate"),
        (
            "unit-start-timeout",
            "Jul 22 15:38:41 edge-05 systemd[1]: mq-bridge.service: start operation timed out. Terminating.",
        ),
        ("process-killed", "LOG:  server process (PID 4411) was terminated by signal 9: Killed"),
        ("db-backend-crashed", "psql: error: server closed the connection unexpectedly"),
        ("disk-watermark", "flood stage disk watermark [95%] exceeded on [node-1]"),
        ("exec-format-error", "exec /app/pricing: exec format error"),
        (
            "shm-exhausted",
            'ERROR:  could not resize shared memory segment "/PostgreSQL.19" to 50438144 bytes: '
            "No space left on device",
        ),
    ],
)
def test_known_failure_class_is_recognised_by_its_message(signature, line):
    found = analyze_text("log_tail", line, args={"source": "/var/log/app.log"})
    assert signature in {f.signature for f in found}
    assert signature in SIGNATURES
    quoted_exactly(found, line)


def test_every_finding_signature_is_in_the_one_registry():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "assistant" / "findings"
    named = set()
    for path in root.glob("*.py"):
        named |= set(re.findall(r'(?:make_finding\(\s*obs,\s*|Known\()\s*"([a-z0-9-]+)"', path.read_text()))
    assert named and named <= set(SIGNATURES), named - set(SIGNATURES)


def test_masked_and_missing_units_are_findings():
    masked = "○ cron.service\n     Loaded: masked (Reason: Unit cron.service is masked.)\n     Active: inactive (dead)"
    [f] = by_sig(analyze_text("service_status", masked, args={"service": "cron"}), "unit-not-loadable")
    assert f.facts["state"] == "masked" and "masked" in f.title


def test_loopback_only_listener_is_info_alone_and_the_cause_after_a_refusal():
    ss = (
        "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        'LISTEN 0      4096       127.0.0.1:9187      0.0.0.0:*    users:(("exporter",pid=288,fd=3))'
    )
    [alone] = analyze_text("port_owner", ss, args={"port": 9187})
    assert alone.signature == "loopback-only" and alone.severity == "info"
    refused = analyze_text("log_tail", "dial tcp 10.0.0.5:9187: connect: connection refused")
    [after] = analyze_text("port_owner", ss, args={"port": 9187}, prior=refused)
    assert after.severity == "high"
    public = ss.replace("127.0.0.1:9187", "0.0.0.0:9187")
    assert analyze_text("port_owner", public, args={"port": 9187}) == []


def test_a_pod_pending_on_its_init_container_points_at_its_logs():
    describe = """\
Name:             orders-5f6d7c8b9a-k2j4h
Namespace:        shop
Status:           Pending
Init Containers:
  wait-for-db:
    State:          Running
      Started:      Mon, 02 Mar 2026 10:00:10 +0000
    Ready:          False
Containers:
  orders:
    State:          Waiting
      Reason:       PodInitializing
"""
    [f] = by_sig(analyze_text("pod_describe", describe), "init-container-waiting")
    assert [(c.tool, c.args["container"]) for c in f.checks] == [("pod_logs", "wait-for-db")]


@pytest.mark.parametrize(
    "line",
    [
        "Nov 23 02:00:04 bi-01 python3[2211]: requests.exceptions.ConnectionError: HTTPSConnectionPool("
        "host='reports.corp.example.net', port=443): Max retries exceeded with url: /upload (Caused by "
        'NameResolutionError("<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to resolve '
        "'reports.corp.example.net' ([Errno -2] Name or service not known)\"))",
        "Nov 23 02:00:04 bi-01 rsync[2211]: ssh: Could not resolve hostname reports.corp.example.net: "
        "Name or service not known",
        "2026-11-23T02:00:04Z ERROR upload: dial tcp: lookup reports.corp.example.net on 10.0.0.2:53: "
        "read udp 10.0.0.5:41234->10.0.0.2:53: i/o timeout",
        "Nov 23 02:00:04 bi-01 node[2211]: Error: getaddrinfo EAI_AGAIN reports.corp.example.net",
    ],
)
def test_a_name_that_does_not_resolve_is_looked_up_next(line):
    [dns] = [f for f in analyze_text("log_tail", line) if f.signature.startswith("dns-")]
    assert dns.facts["name"] == "reports.corp.example.net" and dns.severity == "high"
    assert [(c.tool, c.args) for c in dns.checks] == [("dns_lookup", {"name": "reports.corp.example.net"})]
