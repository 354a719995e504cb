"""Host investigations: the service the engineer describes in words, and answers that follow the evidence
(a moved bind port, a resolver that does not answer, the OOM killer's real hog, cron's PATH, 203/EXEC)."""

from __future__ import annotations

from test_runbook_strategy import Session, ok

PS = "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"


def ps(*rows: str) -> str:
    return (
        PS
        + "root           1  0.0  0.3 167744 13140 ?        Ss   Nov02   1:12 /sbin/init\n"
        + "\n".join(rows)
    )


def host(name: str) -> str:
    return f"You are Firstline.\nTarget: {name} (host)"


def test_a_service_described_in_words_is_found_by_its_abbreviated_unit_name():
    s = Session(host("ws-gw-01"), "WebSocket clients on ws-gw-01 get disconnected since this morning.")
    outputs = {
        "process_list": ok(
            ps(
                "root         402  0.0  0.6  64176 25344 ?        S<s  Nov02   0:31 /lib/systemd/systemd-journald",
                "wsgw        1412 38.0  4.1 1402112 168004 ?      Ssl  08:02  41:10 /usr/bin/node /opt/ws-gateway/dist/server.js",
            )
        ),
    }
    s.run(outputs)
    assert ("service_status", {"service": "ws-gateway"}) in s.asked
    assert ("service_status", {"service": "systemd-journald"}) not in s.asked


def test_a_two_word_description_is_checked_as_a_unit_then_found_among_the_processes():
    s = Session(
        host("push-node-03"), "The notification relay on push-node-03 keeps dropping new connections."
    )
    outputs = {
        "process_list": ok(
            ps(
                "pushrl      1412 38.0  4.1 1402112 168004 ?      Ssl  08:02  41:10 /opt/notif-relay/bin/notif-relay"
            )
        ),
        "service_status:notification-relay": ("Unit notification-relay.service could not be found.", 4, None),
    }
    s.run(outputs)
    assert s.asked[0] == ("service_status", {"service": "notification-relay"})
    assert ("service_status", {"service": "notif-relay"}) in s.asked


def test_a_role_word_alone_names_no_unit():
    s = Session(host("media-worker-01"), "The thumbnail worker on media-worker-01 restarts all the time.")
    outputs = {
        "process_list": ok(
            ps(
                "media       2201 90.0  8.1 902112 668004 ?       Rl   08:02  41:10 /usr/bin/python3 -m celery -A thumbs worker"
            )
        )
    }
    s.run(outputs)
    assert ("service_status", {"service": "worker"}) not in s.asked


def test_an_exporter_is_a_unit_name_tried_in_both_spellings():
    s = Session(
        host("mon-edge-01"), "The pgbouncer exporter on mon-edge-01 is down, Prometheus cannot scrape :9127."
    )
    s.step({})
    assert ("service_status", {"service": "pgbouncer-exporter"}) in s.asked
    s.step(
        {
            "service_status:pgbouncer-exporter": (
                "Unit pgbouncer-exporter.service could not be found.",
                4,
                None,
            )
        }
    )
    assert ("service_status", {"service": "pgbouncer_exporter"}) in s.asked
    assert ("service_status", {"service": "mon-edge"}) not in s.asked


def test_a_unit_that_cannot_exec_is_answered_with_its_execstart_path():
    status = (
        "× pgbouncer_exporter.service - PgBouncer exporter\n"
        "     Loaded: loaded (/etc/systemd/system/pgbouncer_exporter.service; enabled)\n"
        "     Active: failed (Result: start-limit-hit) since Thu 2026-11-12 09:14:03 UTC; 20min ago\n"
        "    Process: 4411 ExecStart=/usr/local/bin/pgbouncer_exporter --web.listen-address=:9127 "
        "(code=exited, status=203/EXEC)\n"
        "   Main PID: 4411 (code=exited, status=203/EXEC)\n\n"
        "Nov 12 09:14:03 mon-edge-01 systemd[1]: pgbouncer_exporter.service: Main process exited, code=exited, "
        "status=203/EXEC\n"
        "Nov 12 09:14:03 mon-edge-01 systemd[1]: pgbouncer_exporter.service: Failed with result 'start-limit-hit'.\n"
    )
    s = Session(host("mon-edge-01"), "pgbouncer_exporter on mon-edge-01 will not start.")
    answer = s.run({"service_status:pgbouncer_exporter": (status, 3, None)})
    assert "/usr/local/bin/pgbouncer_exporter" in answer.split("**Evidence**")[0]


NGINX_REFUSED = (
    "2026/11/10 10:13:02 [error] 811#811: *5120 connect() failed (111: Connection refused) while connecting to "
    'upstream, client: 10.0.4.20, server: shop.example.com, request: "GET / HTTP/1.1", upstream: '
    '"http://127.0.0.1:8081/", host: "shop.example.com"\n'
)


def test_a_proxy_upstream_that_refuses_and_an_app_listening_elsewhere_is_a_port_mismatch():
    journal = (
        "Nov 10 08:01:10 web-03 gunicorn[3301]: [2026-11-10 08:01:10 +0000] [3301] [INFO] Listening at: "
        "http://127.0.0.1:8001 (3301)\n"
    )
    s = Session(host("web-03"), "nginx on web-03 returns 502 for orders-api since the deploy.")
    answer = s.run(
        {
            "service_status:orders-api": ok(
                "● orders-api.service\n     Active: active (running)\n" + journal
            ),
            "log_tail:unit:orders-api": ok(journal),
            "service_status:nginx": ok("● nginx.service\n     Active: active (running)\n"),
            "log_tail:/var/log/nginx/error.log": ok(NGINX_REFUSED),
            "port_owner": ok("State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"),
        }
    )
    assert ("port_owner", {"port": 8081}) in s.asked
    cause = answer.split("**Evidence**")[0]
    assert "8081" in cause and "8001" in cause


def test_a_dns_timeout_names_the_resolver_and_resolv_conf():
    s = Session(
        host("ledger-02"), "ledger on ledger-02 cannot resolve db-ledger.prod.internal since the reboot."
    )
    answer = s.run(
        {
            "service_status": ok("● ledger.service\n     Active: active (running)\n"),
            "dns_lookup": (
                ";; communications error to 10.44.0.2#53: timed out\n;; no servers could be reached\n",
                1,
                None,
            ),
        }
    )
    cause = answer.split("**Evidence**")[0]
    assert "10.44.0.2" in cause and "/etc/resolv.conf" in cause


def test_an_oom_kill_names_the_biggest_consumer_not_only_the_victim():
    kern = (
        "Nov 12 03:10:07 db-03 kernel: [812345.124] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes "
        "swapents oom_score_adj name\n"
        "Nov 12 03:10:07 db-03 kernel: [812345.125] [   1234]   113  1234  1279070   640960  5939200        0"
        "             0 postgres\n"
        "Nov 12 03:10:07 db-03 kernel: [812345.126] [   8812]  1001  8812  3100000  2900000 24000000        0"
        "             0 python3\n"
        "Nov 12 03:10:07 db-03 kernel: [812345.131] Out of memory: Killed process 1234 (postgres) "
        "total-vm:5116280kB, anon-rss:2563840kB, file-rss:0kB, shmem-rss:0kB, UID:113 pgtables:5800kB oom_score_adj:0\n"
    )
    s = Session(host("db-03"), "postgres on db-03 was killed by the OOM killer last night.")
    answer = s.run({"log_tail:/var/log/kern.log": ok(kern)})
    assert "python3 (pid 8812" in answer.split("**Evidence**")[0]


def test_a_cron_job_reads_the_system_log_and_its_own_log_and_names_the_path_problem():
    cron = (
        "Nov 12 02:30:01 files-01 CRON[51220]: (backup) CMD (/usr/local/bin/dump-sync.sh >> "
        "/var/log/dump-sync.log 2>&1)\n"
    )
    s = Session(
        host("files-01"), "The nightly database dump upload from cron on files-01 fails; by hand it works."
    )
    answer = s.run(
        {
            "log_tail:/var/log/syslog": ok(cron),
            "log_tail:unit:cron": ok(cron),
            "service_status:cron": ok("● cron.service\n     Active: active (running)\n"),
            "log_tail:/var/log/dump-sync.log": ok(
                "/usr/local/bin/dump-sync.sh: line 18: rclone: command not found\nupload failed rc=127\n"
            ),
            "process_list": ok(
                ps("mysql        901  1.0  9.1 2216000 740000 ?      Ssl  Nov02  88:10 /usr/sbin/mysqld")
            ),
        }
    )
    assert ("log_tail", {"source": "/var/log/syslog", "lines": 200}) in s.asked
    assert ("log_tail", {"source": "/var/log/dump-sync.log", "lines": 200}) in s.asked
    assert not any(a.get("service") == "mysql" for _, a in s.asked)
    assert "rclone" in answer and "PATH" in answer


def test_no_check_is_asked_twice_in_a_turn():
    s = Session(host("ws-gw-01"), "WebSocket clients on ws-gw-01 get disconnected since this morning.")
    s.run({"process_list": ok(ps())})
    keys = [(n, sorted(a.items())) for n, a in s.asked]
    assert len(keys) == len({str(k) for k in keys})


def test_backends_down_by_a_failing_http_health_check_are_explained_as_the_check():
    journal = (
        "Nov 12 10:02:11 lb-09 haproxy[703]: [WARNING]  (703) : Server api/api1 is DOWN, reason: Layer7 wrong "
        'status, code: 404, info: "Not Found", check duration: 3ms. 0 active and 0 backup servers left.\n'
        "Nov 12 10:02:12 lb-09 haproxy[703]: [ALERT]    (703) : backend 'api' has no server available!\n"
    )
    s = Session(host("lb-09"), "haproxy on lb-09 answers 503 for every api request since the v4 deploy.")
    answer = s.run(
        {
            "service_status:haproxy": ok("● haproxy.service\n     Active: active (running)\n"),
            "log_tail:unit:haproxy": ok(journal),
        }
    )
    cause = answer.split("**Evidence**")[0]
    assert "health check" in cause and "404" in cause and "api/api1" in cause


def test_a_unit_named_in_a_systemd_line_of_any_output_is_matched_to_the_description():
    syslog = (
        "Nov 12 09:14:03 ws-gw-01 systemd[1]: ws-gateway.service: Main process exited, code=exited, status=1/FAILURE\n"
        "Nov 12 09:14:03 ws-gw-01 systemd[1]: ws-gateway.service: Failed with result 'exit-code'.\n"
    )
    s = Session(host("ws-gw-01"), "The websocket gateway on ws-gw-01 is failing since the upgrade.")
    s.run(
        {
            "service_status:websocket-gateway": (
                "Unit websocket-gateway.service could not be found.",
                4,
                None,
            ),
            "process_list": ok(ps()),
            "log_tail:/var/log/syslog": ok(syslog),
        }
    )
    assert ("service_status", {"service": "ws-gateway"}) in s.asked


def test_a_resolver_is_named_from_nslookup_output_but_never_from_an_http_server_header():
    s = Session(host("rep-01"), "reports-api on rep-01 cannot resolve pg-reports.db.internal.corp.")
    answer = s.run(
        {
            "service_status": ok("● reports-api.service\n     Active: active (running)\n"),
            "http_check": ok("HTTP/1.1 200 OK\nServer: cafe\n"),
            "dns_lookup": (
                ";; connection timed out; no servers could be reached\n\nServer:\t\t10.20.0.53\n",
                1,
                None,
            ),
        }
    )
    cause = answer.split("**Evidence**")[0]
    assert "10.20.0.53" in cause and "cafe" not in cause


def test_an_app_listening_on_its_own_port_is_no_mismatch_with_a_dependency_that_refuses():
    journal = (
        "Nov 10 08:01:10 app-05 node[3301]: Listening on 0.0.0.0:8080\n"
        "Nov 10 08:02:10 app-05 node[3301]: Error: connect ECONNREFUSED 127.0.0.1:6379\n"
        "Nov 10 08:02:11 app-05 node[3301]: Error: connect ECONNREFUSED 127.0.0.1:6379\n"
    )
    s = Session(host("app-05"), "checkout on app-05 fails every request since 08:00.")
    answer = s.run(
        {
            "service_status:checkout": ok("● checkout.service\n     Active: active (running)\n"),
            "log_tail:unit:checkout": ok(journal),
            "port_owner": ok("State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"),
        }
    )
    assert "disagree" not in answer and "instead" not in answer.split("**Evidence**")[0]


def test_a_host_oom_kill_gets_a_host_fix_never_a_kubectl_one():
    from assistant.findings import analyze_text
    from assistant.runbook.manual import for_finding

    kern = (
        "Nov 12 03:10:07 db-03 kernel: [812345.131] Out of memory: Killed process 1234 (postgres) "
        "total-vm:5116280kB, anon-rss:2563840kB, file-rss:0kB, shmem-rss:0kB, UID:113 pgtables:5800kB\n"
    )
    (oom,) = [
        f
        for f in analyze_text("log_tail", kern, args={"source": "/var/log/kern.log"})
        if f.signature == "oom-killed"
    ]
    text = str(for_finding(oom))
    assert "kubectl" not in text and "<DEPLOYMENT>" not in text
    assert "ps -eo pid,user,rss,etime,args --sort=-rss" in text

    limited = (
        "Nov 12 03:10:07 app-03 kernel: Memory cgroup out of memory: Killed process 2231 (java) "
        "total-vm:5116280kB, anon-rss:2563840kB\n"
        "Nov 12 03:10:07 app-03 systemd[1]: search.service: A process of this unit has been killed by the OOM killer.\n"
    )
    (oom,) = [
        f
        for f in analyze_text("log_tail", limited, args={"source": "unit:search"})
        if f.signature == "oom-killed"
    ]
    text = str(for_finding(oom))
    assert "sudo systemctl set-property search MemoryMax=<NEW_LIMIT>" in text and "kubectl" not in text


def test_a_full_disk_named_by_a_failed_write_is_checked_at_the_files_directory():
    """The temporary file a write failed on never came to exist: df its directory, not the file."""
    journal = (
        "Nov 23 02:09:57 app-01 ingest-worker[48211]: ERROR spool: cannot write batch 7781203: [Errno 28] "
        "No space left on device: '/var/lib/ingest/spool/batch-7781203.jsonl.tmp'\n"
    )
    s = Session(host("app-01"), "ingest-worker on app-01 stopped writing batches")
    s.run({"service_status": ok("● ingest-worker.service\n     Active: active (running)\n" + journal)})
    disks = [a["path"] for name, a in s.asked if name == "disk_usage"]
    assert "/var/lib/ingest/spool" in disks
    assert not any(p.endswith(".tmp") for p in disks), disks
