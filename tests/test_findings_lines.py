"""Failure lines in the formats real software prints them: whatever level marker a program uses (or none), a
line that states a failure becomes an `error-lines` finding quoting that exact line, and the line that started
a chain of failures is among them. Known-benign look-alikes (see benign.py) never do.

Each sample is written the way the named program prints it.
"""

from __future__ import annotations

import pytest

from assistant.events import Finding
from assistant.findings import analyze_text
from assistant.findings.generic import level_of
from assistant.findings.logtext import read_line


def error_lines(text: str, tool: str = "log_tail", **args: object) -> list[Finding]:
    found = [f for f in analyze_text(tool, text, args=dict(args)) if f.signature == "error-lines"]
    for f in found:
        for ev in f.evidence:
            for line in ev.lines:
                assert line in text, f"evidence line not in output: {line!r}"
    return found


def quoted(found: list[Finding]) -> set[str]:
    return {line for f in found for ev in f.evidence for line in ev.lines}


FAILURE_LINES = {
    "redis-aof": "1:M 14 Mar 2026 02:10:01.123 # Bad file format reading the append only file appendonly.aof."
    "6.incr.aof: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
    "mysql-error": "2026-03-14T02:10:01.123456Z 0 [ERROR] [MY-010119] [Server] Aborting",
    "mysql-innodb": "2026-03-14T02:10:01.123456Z 1 [ERROR] [MY-012592] [InnoDB] Operating system error number 28 "
    "in a file operation.",
    "postgres-fatal": '2026-03-14 02:10:01.123 UTC [4121] FATAL:  password authentication failed for user "app"',
    "postgres-panic": "2026-03-14 02:10:01.123 UTC [1] PANIC:  could not locate a valid checkpoint record",
    "postgres-error": '2026-03-14 02:10:01.123 UTC [4122] ERROR:  relation "orders" does not exist at character 15',
    "logback": "2026-03-14 02:10:01.123 ERROR 1 --- [           main] o.s.boot.SpringApplication               : "
    "Application run failed",
    "python-logging": "2026-03-14 02:10:01,123 - app.worker - ERROR - payment sync stopped",
    "go-logfmt": 'time="2026-03-14T02:10:01Z" level=error msg="upstream returned 502" upstream=pay',
    "nginx-crit": "2026/03/14 02:10:01 [crit] 12#12: *1 connect() to unix:/run/php/php8.2-fpm.sock failed "
    "(2: No such file or directory) while connecting to upstream",
    "haproxy-down": "Mar 14 02:10:01 lb1 haproxy[812]: Server be_api/api-01 is DOWN, reason: Layer7 wrong status, "
    'code: 404, info: "Not Found", check duration: 2ms. 0 active and 0 backup servers left.',
    "haproxy-no-server": "Mar 14 02:10:01 lb1 haproxy[812]: backend 'be_api' has no server available!",
    "haproxy-check": "[WARNING]  (812) : Health check for server be_api/api-01 failed, reason: Layer7 wrong status, "
    'code: 404, info: "Not Found", check duration: 2ms, status: 0/2 DOWN.',
    "haproxy-nosrv": "Mar 14 02:10:03 lb1 haproxy[812]: 10.0.0.9:51002 [14/Mar/2026:02:10:03.100] fe_api be_api/<NOSRV> "
    '0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /v1/cart HTTP/1.1"',
    "nginx-access-502": '10.0.0.9 - - [14/Mar/2026:02:10:03 +0000] "POST /api/orders HTTP/1.1" 502 157 "-" "curl/8.5"',
    "elasticsearch": "[2026-03-14T02:10:01,123][WARN ][o.e.c.r.a.DiskThresholdMonitor] [es-data-1] flood stage disk "
    "watermark [95%] exceeded on [x1Y2][es-data-1][/usr/share/elasticsearch/data] free: 1.1gb[4.2%], all indices "
    "on this node will be marked read-only",
    "rabbitmq-alarm": "2026-03-14 02:10:01.123 [info] <0.412.0> disk resource limit alarm set on node rabbit@mq-1.",
    "rabbitmq-blocked": "2026-03-14 02:10:01.124 [warning] <0.412.0> Publishers will be blocked until this alarm clears",
    "kernel-oom": "Mar 14 02:10:01 db-01 kernel: Out of memory: Killed process 4242 (postgres) total-vm:8123456kB, "
    "anon-rss:7123456kB, file-rss:0kB, shmem-rss:0kB, UID:112 pgtables:14000kB oom_score_adj:0",
    "kernel-ext4": "Mar 14 02:10:01 db-01 kernel: EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: "
    "comm ls: reading directory lblock 0",
    "kernel-io": "[12345.678901] blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0",
    "systemd-203": "Mar 14 02:10:01 mon-01 systemd[1]: pgbouncer-exporter.service: Main process exited, "
    "code=exited, status=203/EXEC",
    "systemd-exec": "Mar 14 02:10:01 mon-01 systemd[4312]: pgbouncer-exporter.service: Failed at step EXEC spawning "
    "/usr/local/bin/pgbouncer_exporter: No such file or directory",
    "systemd-limit": "Mar 14 02:10:06 mon-01 systemd[1]: pgbouncer-exporter.service: Start request repeated too quickly.",
    "systemd-result": "Mar 14 02:10:06 mon-01 systemd[1]: pgbouncer-exporter.service: Failed with result "
    "'start-limit-hit'.",
    "bash-not-found": "/usr/local/bin/nightly-backup.sh: line 14: aws: command not found",
    "dash-not-found": "/bin/sh: 1: aws: not found",
    "no-such-file": "nightly-backup.sh: line 3: /opt/backup/env: No such file or directory",
    "pino-error": '{"level":50,"time":1773454201123,"pid":1,"hostname":"api-7d9f","msg":"payment provider '
    'rejected request","err":{"type":"Error","message":"403"}}',
    "pino-fatal": '{"level":60,"time":1773454201123,"pid":1,"hostname":"api-7d9f","msg":"cannot open config"}',
    "log15": 't=2026-03-14T02:10:01+0000 lvl=eror msg="Failed to write block" err="disk quota exceeded"',
    "geth": 'ERROR[03-14|02:10:01.123] Failed to open database  err="resource temporarily unavailable"',
    "ruby-logger": "E, [2026-03-14T02:10:01.123456 #4121] ERROR -- : PG::ConnectionBad: could not translate host name",
    "apache-module": "[Sat Mar 14 02:10:01.123456 2026] [proxy:error] [pid 4121:tid 1400] (111)Connection refused: "
    "AH00957: http: attempt to connect to 127.0.0.1:8080 (127.0.0.1:8080) failed",
    "mount-status": "Mar 14 02:10:01 db-01 systemd[1]: data.mount: Mount process exited, code=exited, status=32/n/a",
    "giving-up": "Mar 14 02:10:01 app-01 billing[811]: ledger unreachable after 5 attempts, giving up",
    "exhausted": "Mar 14 02:10:01 app-01 billing[811]: HikariPool-1 - Connection pool exhausted (total=20, active=20)",
    "with-errors": "Mar 14 02:10:01 db-01 backup[811]: nightly backup completed with errors",
    "queue-full": "Mar 14 02:10:01 app-01 billing[811]: dropping event: queue is full",
    "invalid": "Mar 14 02:10:01 app-01 billing[811]: config value invalid for key listen_port",
    "malformed": "Mar 14 02:10:01 app-01 billing[811]: received malformed response from ledger",
    "truncated": "Mar 14 02:10:01 app-01 billing[811]: upload to s3 truncated at 4096 bytes",
    "wrong-status": "Mar 14 02:10:01 app-01 probe[811]: GET http://api:8080/healthz: wrong status 404",
    "is-down": "Mar 14 02:10:01 app-01 keepalived[811]: VRRP backend api-02 is down",
    "unhealthy": "Mar 14 02:10:01 app-01 dockerd[811]: container web-1 health_status: unhealthy",
    "backoff": "Mar 14 02:10:01 app-01 billing[811]: ledger connection lost, backing off 8s",
}


@pytest.mark.parametrize("name", FAILURE_LINES)
def test_a_failure_in_any_real_format_is_a_finding_quoting_its_line(name):
    line = FAILURE_LINES[name]
    found = analyze_text("log_tail", line)  # a specific signature, or the generic error lines
    assert line in quoted([f for f in found if f.severity in {"critical", "high", "medium"}]), name


def test_a_failure_printed_as_a_warning_is_a_warning_finding():
    line = "1:M 14 Mar 2026 02:10:01.123 # !!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!"
    [found] = error_lines(line)
    assert found.facts["level"] == "warning" and found.evidence[0].lines == [line]


def test_outages_stated_under_a_quiet_or_warning_level_are_errors():
    for name in ("haproxy-check", "elasticsearch", "rabbitmq-alarm", "rabbitmq-blocked"):
        assert level_of(read_line(FAILURE_LINES[name])) == "error", name


HAPROXY_CHAIN = """\
Mar 14 02:10:00 lb1 haproxy[812]: 10.0.0.9:51000 [14/Mar/2026:02:10:00.100] fe_api be_api/api-01 0/0/1/3/4 200 512 - - ---- 3/3/0/0/0 0/0 "GET /v1/cart HTTP/1.1"
Mar 14 02:10:01 lb1 haproxy[812]: [WARNING]  (812) : Health check for server be_api/api-01 failed, reason: Layer7 wrong status, code: 404, info: "Not Found", check duration: 2ms, status: 0/2 DOWN.
Mar 14 02:10:01 lb1 haproxy[812]: [WARNING]  (812) : Server be_api/api-01 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.
Mar 14 02:10:02 lb1 haproxy[812]: [WARNING]  (812) : Health check for server be_api/api-02 failed, reason: Layer7 wrong status, code: 404, info: "Not Found", check duration: 3ms, status: 0/2 DOWN.
Mar 14 02:10:02 lb1 haproxy[812]: [WARNING]  (812) : Server be_api/api-02 is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.
Mar 14 02:10:02 lb1 haproxy[812]: [ALERT]    (812) : backend 'be_api' has no server available!
Mar 14 02:10:03 lb1 haproxy[812]: 10.0.0.9:51002 [14/Mar/2026:02:10:03.100] fe_api be_api/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /v1/cart HTTP/1.1"
Mar 14 02:10:04 lb1 haproxy[812]: 10.0.0.9:51004 [14/Mar/2026:02:10:04.100] fe_api be_api/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /v1/items HTTP/1.1"
"""


def test_haproxy_chain_keeps_the_health_check_reason_with_counts_and_times():
    found = error_lines(HAPROXY_CHAIN, source="/var/log/haproxy.log")
    check = next(f for f in found if "Health check for server" in f.title)
    assert check.facts["count"] == 2 and check.facts["level"] == "error"
    assert check.facts["first"] == "Mar 14 02:10:01" and check.facts["last"] == "Mar 14 02:10:02"
    assert "Layer7 wrong status, code: 404" in check.evidence[0].lines[0]
    down = next(f for f in found if "is DOWN" in f.title)
    assert down.facts["count"] == 2
    assert any("has no server available" in f.title for f in found)
    nosrv = next(f for f in found if "<NOSRV>" in f.title)
    assert nosrv.facts["count"] == 2  # one shape, whatever the URL
    assert not any("be_api/api-01 0/0/1/3/4 200" in line for line in quoted(found))  # a served request


def test_the_first_failure_of_a_chain_is_kept_when_louder_lines_outrank_it():
    first = "Mar 14 02:10:00 app-01 billing[811]: ledger batch 7 rejected: checksum mismatch"
    loud = [
        f"Mar 14 02:10:0{i} app-01 billing[811]: FATAL worker {kind} crashed: state lost"
        for i, kind in enumerate(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"], start=1)
    ]
    loud = [line.replace("worker", f"worker-{k}" * (k + 1)) for k, line in enumerate(loud)]
    text = "\n".join([first, *loud])
    found = error_lines(text)
    assert len(found) == 5
    assert first in quoted(found)


def test_systemd_naming_the_missing_executable_is_kept_beside_the_unit_finding():
    text = "\n".join(
        FAILURE_LINES[k] for k in ("systemd-exec", "systemd-203", "systemd-limit", "systemd-result")
    )
    found = analyze_text("log_tail", text, args={"source": "unit:pgbouncer-exporter"})
    assert any(f.signature == "unit-failed" for f in found)
    assert FAILURE_LINES["systemd-exec"] in quoted([f for f in found if f.signature == "error-lines"])


HEALTHY = {
    "sshd-probes": """\
Mar 14 02:10:01 web-01 sshd[9911]: Invalid user admin from 203.0.113.9 port 51234
Mar 14 02:10:01 web-01 sshd[9911]: input_userauth_request: invalid user admin [preauth]
Mar 14 02:10:02 web-01 sshd[9911]: pam_unix(sshd:auth): check pass; user unknown
Mar 14 02:10:03 web-01 sshd-session[9912]: Connection closed by invalid user oracle 203.0.113.9 port 51240 [preauth]
Mar 14 02:10:04 web-01 sshd[9913]: Accepted publickey for deploy from 10.0.0.5 port 50022 ssh2""",
    "redis-healthy-start": """\
1:C 14 Mar 2026 02:10:01.100 # WARNING Memory overcommit must be enabled! Without it, a background save or replication may fail under low memory condition. Being disabled, it can also cause failures without low memory condition, see https://github.com/jemalloc/jemalloc/issues/1328.
1:C 14 Mar 2026 02:10:01.100 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo
1:C 14 Mar 2026 02:10:01.100 # Warning: no config file specified, using the default config. In order to specify a config file use redis-server /path/to/redis.conf
1:M 14 Mar 2026 02:10:01.101 # WARNING: The TCP backlog setting of 511 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of 128.
1:M 14 Mar 2026 02:10:01.102 # Server initialized
1:M 14 Mar 2026 02:10:01.103 * Ready to accept connections tcp""",
    "haproxy-recovering": """\
Mar 14 02:10:01 lb1 haproxy[812]: Health check for server be_api/api-01 succeeded, reason: Layer7 check passed, code: 200, check duration: 1ms, status: 1/2 DOWN.
Mar 14 02:10:03 lb1 haproxy[812]: Server be_api/api-01 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms. 2 active and 0 backup servers online.
Mar 14 02:10:05 lb1 haproxy[812]: Server be_api/api-02 is going DOWN for maintenance. 1 active and 0 backup servers left.
Mar 14 02:10:06 lb1 haproxy[812]: SHUTDOWN of idle connections complete; COUNTDOWN timer reset""",
    "rabbitmq-cleared": """\
2026-03-14 02:10:01.123 [info] <0.412.0> disk resource limit alarm cleared on node rabbit@mq-1
=INFO REPORT==== 14-Mar-2026::02:10:01 ===
disk resource limit alarm cleared on node 'rabbit@mq-1'""",
    "startup-wait": """\
2026-03-14T02:10:01Z waiting for postgres at db:5432: not ready yet
2026-03-14T02:10:02Z waiting for postgres at db:5432: not yet ready
2026-03-14T02:10:04Z postgres at db:5432 is ready, starting workers""",
    "mysql-healthy-start": """\
2026-03-14T02:10:01.000000Z 0 [Warning] [MY-011810] [Server] Insecure configuration for --pid-file: Location '/var/run/mysqld' in the path is accessible to all OS users. Consider choosing a different directory.
2026-03-14T02:10:01.000000Z 0 [Warning] [MY-010068] [Server] CA certificate ca.pem is self signed.
2026-03-14T02:10:01.000000Z 0 [System] [MY-010931] [Server] /usr/sbin/mysqld: ready for connections. Version: '8.0.36'  socket: '/var/run/mysqld/mysqld.sock'  port: 3306  MySQL Community Server - GPL.""",
    "postgres-startup-probe": """\
2026-03-14 02:10:01.123 UTC [4120] LOG:  invalid length of startup packet
2026-03-14 02:10:01.200 UTC [1] LOG:  database system is ready to accept connections""",
    "nginx-client-noise": '2026/03/14 02:10:01 [info] 12#12: *41 client sent invalid header line: "x" while '
    "reading client request headers, client: 203.0.113.9, server: _\n2026/03/14 02:10:02 12#12: *42 client sent "
    "invalid chunked body while sending request to upstream, client: 203.0.113.9",
    "nvme-boot": "[    1.234567] nvme nvme0: missing or invalid SUBNQN field.",
    "cut-output": "Mar 14 02:10:01 app-01 billing[811]: INFO batch 12 done\n… [18234 characters truncated] …\n"
    "Mar 14 02:10:59 app-01 billing[811]: INFO batch 13 done",
    "retry-policy": "Mar 14 02:10:01 app-01 billing[811]: using exponential backoff: base=1s max=30s",
    "pino-info": '{"level":30,"time":1773454201123,"pid":1,"hostname":"api-7d9f","msg":"retry after failed '
    'attempt succeeded"}\n{"level":20,"time":1773454201124,"msg":"cache entry invalid, refreshing"}',
    "clean-counters": "Mar 14 02:10:01 app-01 billing[811]: nightly backup completed with 0 errors\n"
    "hikaricp_pool_exhausted_total 0\nMar 14 02:10:02 app-01 backup[811]: starting full backup of disk /dev/sda",
    "drawdown": "Mar 14 02:10:01 app-01 billing[811]: queue depth is down to 3 from 40",
}


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_look_alikes_are_not_failures(name):
    assert error_lines(HEALTHY[name]) == [], name


def test_a_wait_that_never_ends_is_still_a_failure():
    text = HEALTHY["startup-wait"].rsplit("\n", 1)[0]
    assert error_lines(text)


def test_new_words_stay_fast_on_hostile_lines():
    import time

    pieces = ["invalid " * 1000, "BackOff" * 1500, "is DOWN " * 1000, "Health check for server " + "x" * 8000]
    text = "\n".join(p for p in pieces for _ in range(3))
    start = time.process_time()
    analyze_text("log_tail", text)
    assert time.process_time() - start < 1.0


def test_logback_time_of_day_stamps_give_first_and_last_times():
    text = "\n".join(
        f"02:10:0{i}.123 [http-nio-8080-exec-{i}] ERROR c.e.orders.LedgerClient - ledger call failed: 503"
        for i in range(1, 4)
    )
    [group] = error_lines(text, tool="pod_logs", pod="orders-1")
    assert group.facts["count"] == 3
    assert (group.facts["first"], group.facts["last"]) == ("02:10:01.123", "02:10:03.123")


def test_many_waits_with_no_end_stay_linear():
    """Whether a later line resolves a start-up wait is asked for every such line: one scan per pattern."""
    import time

    text = "\n".join(
        f"Mar 14 02:10:01 app-01 billing[811]: dependency {i % 7} not ready yet, waiting on amqp-{i % 3}.internal"
        for i in range(3000)
    )
    start = time.process_time()
    [group] = error_lines(text)
    assert group.facts["count"] == 3000
    assert time.process_time() - start < 3.0
