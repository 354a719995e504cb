"""Findings analyzers on realistic command output (with noise), and no false positives on tricky text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.findings import analyze, analyze_text, dedup_key, parse_calls
from tools.base import ToolResult

SYSTEMCTL_BIND = """\
× nginx.service - A high performance web server and a reverse proxy server
     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; vendor preset: enabled)
     Active: failed (Result: exit-code) since Sun 2025-11-23 03:12:03 UTC; 3min ago
       Docs: man:nginx(8)
    Process: 811 ExecStartPre=/usr/sbin/nginx -t -q -g daemon on; master_process on; (code=exited, status=0/SUCCESS)
    Process: 812 ExecStart=/usr/sbin/nginx -g daemon on; master_process on; (code=exited, status=1/FAILURE)
        CPU: 25ms

Nov 23 03:12:01 web-prod-01 systemd[1]: Starting A high performance web server and a reverse proxy server...
Nov 23 03:12:01 web-prod-01 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)
Nov 23 03:12:01 web-prod-01 nginx[812]: nginx: [emerg] bind() to [::]:80 failed (98: Address already in use)
Nov 23 03:12:03 web-prod-01 nginx[812]: nginx: [emerg] still could not bind()
Nov 23 03:12:03 web-prod-01 systemd[1]: nginx.service: Control process exited, code=exited, status=1/FAILURE
Nov 23 03:12:03 web-prod-01 systemd[1]: nginx.service: Failed with result 'exit-code'.
Nov 23 03:12:03 web-prod-01 systemd[1]: Failed to start A high performance web server and a reverse proxy server.
"""

SS_OWNER = """\
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
LISTEN 0      511          0.0.0.0:80        0.0.0.0:*     users:(("node",pid=2314,fd=19))

    PID USER                      STARTED CMD
   2314 deploy   Mon Nov 17 09:41:22 2025 node /opt/old-app/server.js
"""

SYSTEMCTL_OK = """\
● nginx.service - A high performance web server and a reverse proxy server
     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; vendor preset: enabled)
     Active: active (running) since Sun 2025-11-23 03:12:03 UTC; 2h ago
   Main PID: 901 (nginx)
      Tasks: 3 (limit: 4557)
     Memory: 6.1M
     CGroup: /system.slice/nginx.service
             ├─901 "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"
             └─902 "nginx: worker process"

Nov 23 03:12:03 web-prod-01 systemd[1]: Started A high performance web server and a reverse proxy server.
Nov 23 04:00:00 web-prod-01 nginx[902]: 2025/11/23 04:00:00 [notice] 902#902: signal process started, 0 errors
"""


def obs_result(
    tool: str, output: str, args: dict | None = None, exit_code: int = 0, command: str = ""
) -> ToolResult:
    return ToolResult(
        tool=tool,
        args=args or {},
        ok=exit_code == 0,
        exit_code=exit_code,
        output=output,
        command=command or tool,
        target="test",
        started_at=datetime.now(UTC),
    )


def check_evidence(findings, output: str) -> None:
    for f in findings:
        assert f.evidence, f"{f.signature} has no evidence"
        for ev in f.evidence:
            assert ev.lines
            for line in ev.lines:
                assert line in output, f"evidence line not in output: {line!r}"


def by_sig(findings, signature):
    return [f for f in findings if f.signature == signature]


# ------------------------------------------------------------------ ports and units


def test_bind_error_then_owner():
    r = obs_result(
        "service_status", SYSTEMCTL_BIND, {"service": "nginx"}, exit_code=3, command="systemctl status nginx"
    )
    found = analyze(r, "call_1")
    check_evidence(found, SYSTEMCTL_BIND)
    [bind] = by_sig(found, "port-in-use")
    assert bind.facts["port"] == 80 and bind.facts["service"] == "nginx"
    assert "still could not bind()" in " ".join(bind.evidence[0].lines)
    assert ("port_owner", {"port": 80}) in [c for n in bind.next_checks for c in parse_calls(n)]
    [unit] = by_sig(found, "unit-failed")
    assert unit.facts == {
        "unit": "nginx",
        "state": "failed",
        "result": "exit-code",
        "exit_status": "1/FAILURE",
    }
    assert found[0].signature == "port-in-use"  # most causal first

    owner_r = obs_result("port_owner", SS_OWNER, {"port": 80}, command="ss -ltnp 'sport = :80'")
    assert analyze(owner_r, "call_2") == []  # a listener alone is not a fault
    owned = analyze(owner_r, "call_2", prior=found)
    check_evidence(owned, SS_OWNER)
    [f] = owned
    assert f.facts["pid"] == 2314 and f.facts["process"] == "node"
    assert f.facts["cmdline"] == "node /opt/old-app/server.js" and f.facts["user"] == "deploy"
    assert parse_calls(f.remediation) == [
        ("kill_process", {"pid": 2314}),
        ("restart_service", {"service": "nginx"}),
    ]
    assert dedup_key(f) != dedup_key(bind) and f.finding_id != bind.finding_id
    assert f.evidence[0].call_id == "call_2" and f.evidence[0].command == "ss -ltnp 'sport = :80'"


@pytest.mark.parametrize(
    "line,port",
    [
        ("Error: listen EADDRINUSE: address already in use :::3000", 3000),
        ("2025-11-23T03:12:01.551Z listen tcp :8080: bind: address already in use", 8080),
        (
            "ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use",
            8000,
        ),
        ("Web server failed to start. Port 8081 was already in use.", 8081),
        ("(98)Address already in use: AH00072: make_sock: could not bind to address [::]:443", 443),
        (
            (
                '2025-11-23 03:12:01.100 UTC [991] LOG:  could not bind IPv4 address "0.0.0.0": Address already in use\n'
                "2025-11-23 03:12:01.100 UTC [991] HINT:  Is another postmaster already running on port 5432?"
            ),
            5432,
        ),
    ],
)
def test_bind_error_variants(line, port):
    text = "app starting\nloading config from /etc/app.yaml\n" + line + "\nshutting down\n"
    found = by_sig(analyze_text("log_tail", text), "port-in-use")
    assert [f.facts["port"] for f in found] == [port]
    check_evidence(found, text)


def test_healthy_unit_no_findings():
    assert analyze(obs_result("service_status", SYSTEMCTL_OK, {"service": "nginx"}), "c") == []


def test_unit_auto_restart_and_oom_unit():
    text = """\
● worker.service - Billing worker
     Loaded: loaded (/etc/systemd/system/worker.service; enabled; preset: enabled)
     Active: activating (auto-restart) (Result: oom-kill) since Sun 2025-11-23 03:12:03 UTC; 2s ago
    Process: 4410 ExecStart=/usr/bin/python3 -m billing.worker (code=killed, signal=KILL)
   Main PID: 4410 (code=killed, signal=KILL)

Nov 23 03:12:03 app-02 systemd[1]: worker.service: A process of this unit has been killed by the OOM killer.
Nov 23 03:12:03 app-02 systemd[1]: worker.service: Failed with result 'oom-kill'.
"""
    found = analyze_text("service_status", text, args={"service": "worker"})
    check_evidence(found, text)
    [unit] = by_sig(found, "unit-failed")
    assert unit.facts["state"] == "auto-restart" and unit.facts["result"] == "oom-kill"
    assert unit.facts["exit_status"] == "KILL"
    [oom] = by_sig(found, "oom-killed")
    assert oom.facts["unit"] == "worker"


def test_config_test_failed():
    text = """\
$ nginx -t
nginx: [emerg] unknown directive "proxy_passs" in /etc/nginx/sites-enabled/shop.conf:12
nginx: configuration file /etc/nginx/nginx.conf test failed
"""
    [f] = analyze_text("log_tail", text)
    assert f.signature == "config-test-failed"
    assert f.facts["file"] == "/etc/nginx/sites-enabled/shop.conf" and f.facts["line"] == 12
    assert "proxy_passs" in f.facts["message"]
    check_evidence([f], text)


def test_apache_and_postgres_config_errors():
    apache = (
        "AH00526: Syntax error on line 31 of /etc/apache2/sites-enabled/000-default.conf:\n"
        "Invalid command 'ProxyPas', perhaps misspelled or defined by a module not included\n"
    )
    [f] = analyze_text("log_tail", apache)
    assert (f.facts["file"], f.facts["line"]) == ("/etc/apache2/sites-enabled/000-default.conf", 31)
    pg = (
        '2025-11-23 03:00:00.000 UTC [77] LOG:  syntax error in file "/etc/postgresql/16/main/postgresql.conf" '
        'line 64, near token "="\n'
    )
    [f] = analyze_text("log_tail", pg)
    assert f.facts["line"] == 64 and f.facts["file"].endswith("postgresql.conf")


def test_permission_denied():
    text = """\
2025/11/23 03:12:01 [notice] 1#1: using the "epoll" event method
2025/11/23 03:12:01 [crit] 7#7: *1 open() "/var/www/shop/index.html" failed (13: Permission denied), client: 10.0.0.5
Error: EACCES: permission denied, open '/srv/app/uploads/tmp.bin'
"""
    found = analyze_text("log_tail", text)
    paths = sorted(f.facts["path"] for f in by_sig(found, "permission-denied"))
    assert paths == ["/srv/app/uploads/tmp.bin", "/var/www/shop/index.html"]
    check_evidence(found, text)


# ------------------------------------------------------------------ network


NGINX_ERROR_LOG = """\
2025/11/23 03:20:11 [notice] 901#901: signal process started
2025/11/23 03:20:14 [error] 902#902: *118 connect() failed (111: Connection refused) while connecting to upstream, \
client: 10.0.0.5, server: shop.example.com, request: "GET /api/cart HTTP/1.1", upstream: "http://127.0.0.1:8080/api/cart", \
host: "shop.example.com"
2025/11/23 03:20:15 [error] 902#902: *119 connect() failed (111: Connection refused) while connecting to upstream, \
client: 10.0.0.9, server: shop.example.com, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", \
host: "shop.example.com"
2025/11/23 03:20:30 [error] 902#902: *120 upstream timed out (110: Connection timed out) while reading response header \
from upstream, client: 10.0.0.7, server: shop.example.com, request: "GET /search HTTP/1.1", \
upstream: "http://10.0.4.21:9200/search", host: "shop.example.com"
"""


def test_connection_refused_and_timeout():
    found = analyze_text("log_tail", NGINX_ERROR_LOG)
    check_evidence(found, NGINX_ERROR_LOG)
    [refused] = by_sig(found, "connection-refused")
    assert (refused.facts["host"], refused.facts["port"], refused.facts["count"]) == ("127.0.0.1", 8080, 2)
    assert "port_owner(port=8080)" in refused.next_checks
    [timeout] = by_sig(found, "connection-timeout")
    assert (timeout.facts["host"], timeout.facts["port"]) == ("10.0.4.21", 9200)


@pytest.mark.parametrize(
    "line,host,port",
    [
        ("Error: connect ECONNREFUSED 10.0.3.12:5432", "10.0.3.12", 5432),
        (
            (
                'psycopg2.OperationalError: connection to server at "db.internal" (10.0.3.12), port 5432 failed: '
                "Connection refused"
            ),
            "db.internal",
            5432,
        ),
        ("panic: dial tcp 10.0.3.40:6379: connect: connection refused", "10.0.3.40", 6379),
        (
            "redis.exceptions.ConnectionError: Error 111 connecting to redis-cache:6379. Connection refused.",
            "redis-cache",
            6379,
        ),
        (
            "curl: (7) Failed to connect to localhost port 8080 after 0 ms: Connection refused",
            "localhost",
            8080,
        ),
    ],
)
def test_connection_refused_variants(line, host, port):
    text = f"2025-11-23T03:12:01.000Z INFO request id=42\n2025-11-23T03:12:02.000Z ERROR {line}\n"
    [f] = by_sig(analyze_text("log_tail", text), "connection-refused")
    assert (f.facts["host"], f.facts["port"]) == (host, port)


def test_dns_nxdomain_app_and_lookup():
    app = """\
> orders-api@1.8.2 start
> node server.js
listening on :8080
Error: getaddrinfo ENOTFOUND orders-db.prod.svc.cluster.local
    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26) {
  errno: -3008,
  code: 'ENOTFOUND',
  hostname: 'orders-db.prod.svc.cluster.local'
}
"""
    [f] = analyze_text("pod_logs", app)
    assert f.signature == "dns-nxdomain" and f.facts == {
        "name": "orders-db.prod.svc.cluster.local",
        "source": "app",
    }
    assert f.next_checks == ['dns_lookup(name="orders-db.prod.svc.cluster.local")']
    check_evidence([f], app)
    lookup = "Host orders-db.prod.svc.cluster.local not found: 3(NXDOMAIN)\n"
    [g] = analyze_text("dns_lookup", lookup, args={"name": "orders-db.prod.svc.cluster.local"}, exit_code=1)
    assert g.facts["source"] == "lookup" and g.finding_id != f.finding_id
    assert analyze_text("dns_lookup", "orders-db.shop.svc.cluster.local has address 10.96.14.7\n") == []


@pytest.mark.parametrize(
    "line,name",
    [
        (
            'could not translate host name "pg-primary.internal" to address: Name or service not known',
            "pg-primary.internal",
        ),
        ("dial tcp: lookup payments.internal on 10.96.0.10:53: no such host", "payments.internal"),
        ("java.net.UnknownHostException: inventory-db.prod", "inventory-db.prod"),
        ("** server can't find api.example.invalid: NXDOMAIN", "api.example.invalid"),
    ],
)
def test_dns_variants(line, name):
    [f] = by_sig(analyze_text("log_tail", "starting\n" + line + "\n"), "dns-nxdomain")
    assert f.facts["name"] == name


def test_dns_timeout_is_not_a_connection_timeout():
    text = ";; connection timed out; no servers could be reached\n"
    found = analyze_text("dns_lookup", text, args={"name": "db.internal"})
    assert [f.signature for f in found] == ["dns-timeout"]


TLS_EXPIRED = """\
subject=CN = shop.example.com
issuer=C = US, O = Let's Encrypt, CN = R11
notBefore=Aug  3 00:00:00 2025 GMT
notAfter=Nov  1 00:00:00 2025 GMT
days_left=-22
status=EXPIRED
"""


def test_tls_expired_and_expiring():
    [f] = analyze(obs_result("tls_certificate", TLS_EXPIRED, {"host": "shop.example.com", "port": 443}), "c1")
    assert f.signature == "tls-cert-expired" and f.severity == "critical"
    assert f.facts["host"] == "shop.example.com" and f.facts["days_left"] == -22
    assert f.facts["not_after"] == "Nov  1 00:00:00 2025 GMT"
    check_evidence([f], TLS_EXPIRED)
    soon = TLS_EXPIRED.replace("days_left=-22", "days_left=6").replace(
        "status=EXPIRED", "status=EXPIRING SOON"
    )
    [g] = analyze_text("tls_certificate", soon, args={"host": "shop.example.com"})
    assert g.signature == "tls-cert-expiring" and g.severity == "medium"
    ok = TLS_EXPIRED.replace("days_left=-22", "days_left=80").replace("status=EXPIRED", "status=OK")
    assert analyze_text("tls_certificate", ok, args={"host": "shop.example.com"}) == []


def test_curl_certificate_expired():
    text = "curl: (60) SSL certificate problem: certificate has expired\nMore details here: https://curl.se/docs/\n"
    [f] = analyze_text("http_check", text, args={"url": "https://shop.example.com/"})
    assert f.signature == "tls-cert-expired" and f.facts["host"] == "shop.example.com"


def test_http_503():
    text = """\
HTTP/1.1 503 Service Temporarily Unavailable
Server: nginx/1.24.0
Date: Sun, 23 Nov 2025 03:20:00 GMT
Content-Type: text/html

<html><head><title>503 Service Temporarily Unavailable</title></head></html>
time_total=0.004s
"""
    [f] = analyze_text("http_check", text, args={"url": "http://shop.example.com/"})
    assert f.signature == "http-error-status" and f.facts["status"] == 503 and f.facts["server"] == "nginx"
    assert f.next_checks == ['service_status(service="nginx")']
    ok = text.replace("503 Service Temporarily Unavailable", "200 OK")
    assert analyze_text("http_check", ok, args={"url": "http://shop.example.com/"}) == []


# ------------------------------------------------------------------ database


def test_postgres_max_connections_and_pool():
    pg = """\
2025-11-23 03:10:00.120 UTC [5120] LOG:  checkpoint starting: time
2025-11-23 03:11:02.481 UTC [6001] FATAL:  sorry, too many clients already
2025-11-23 03:11:02.990 UTC [6002] FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute
"""
    [f] = analyze_text("log_tail", pg)
    assert f.signature == "db-max-connections" and f.facts["count"] == 2 and f.severity == "critical"
    check_evidence([f], pg)
    app = """\
INFO:     10.0.0.5:51234 - "GET /orders HTTP/1.1" 200 OK
sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 overflow 10 reached, connection timed out, timeout 30.00 \
(Background on this error at: https://sqlalche.me/e/20/3o7r)
"""
    found = analyze_text("log_tail", app)
    assert [x.signature for x in found] == ["connection-pool-exhausted"]  # not a dependency timeout
    assert (found[0].facts["size"], found[0].facts["overflow"]) == (20, 10)
    hikari = "HikariPool-1 - Connection is not available, request timed out after 30000ms.\n"
    [h] = analyze_text("log_tail", hikari)
    assert h.facts["pool"] == "HikariPool-1" and h.facts["timeout"] == "30000"


def test_idle_in_transaction_backends():
    rows = [
        f"postgres  {6000 + i}  0.0  0.4 220000  9000 ?  Ss  03:0{i % 10}  0:00 postgres: app orders "
        f"10.0.2.15({53000 + i}) idle in transaction"
        for i in range(12)
    ]
    rows += [
        "postgres  5100  0.0  0.5 218000  9800 ?  Ss  Nov20  0:03 postgres: checkpointer",
        "postgres  6100  0.1  0.4 220000  9000 ?  Ss  03:05  0:00 postgres: app orders 10.0.2.16(51000) idle",
    ]
    text = "USER  PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\n" + "\n".join(rows) + "\n"
    [f] = analyze_text("process_list", text)
    assert f.signature == "db-idle-in-transaction" and f.facts["idle_in_transaction"] == 12
    assert f.facts["client"] == "app@orders"
    check_evidence([f], text)


# ------------------------------------------------------------------ kubernetes

PODS = """\
NAME                          READY   STATUS             RESTARTS       AGE
orders-api-6f7c9d8b5-x2k4p    0/1     CrashLoopBackOff   6 (42s ago)    12m
web-7d9f8c6b5-abcde           0/1     ImagePullBackOff   0              5m
cart-5c8d7b9f4-qwert          1/1     Running            0              3d
report-28391234-zx9cv         0/1     Completed          0              2h
"""


def test_pod_list():
    found = analyze_text("list_pods", PODS, args={"namespace": "shop"})
    check_evidence(found, PODS)
    assert sorted((f.signature, f.facts["pod"]) for f in found) == [
        ("crash-loop", "orders-api-6f7c9d8b5-x2k4p"),
        ("image-pull-failed", "web-7d9f8c6b5-abcde"),
    ]
    crash = by_sig(found, "crash-loop")[0]
    assert crash.next_checks == [
        'pod_describe(pod="orders-api-6f7c9d8b5-x2k4p", namespace="shop")',
        'pod_logs(pod="orders-api-6f7c9d8b5-x2k4p", namespace="shop", previous=true)',
    ]
    assert [(c.tool, c.args) for c in crash.checks][1] == (
        "pod_logs",
        {"pod": "orders-api-6f7c9d8b5-x2k4p", "namespace": "shop", "previous": True},
    )


DESCRIBE_CRASH = """\
Name:             orders-api-6f7c9d8b5-x2k4p
Namespace:        shop
Priority:         0
Service Account:  default
Node:             node-2/10.0.1.12
Start Time:       Sun, 23 Nov 2025 02:58:11 +0000
Labels:           app=orders-api
                  pod-template-hash=6f7c9d8b5
Annotations:      <none>
Status:           Running
IP:               10.244.1.17
Controlled By:    ReplicaSet/orders-api-6f7c9d8b5
Containers:
  orders-api:
    Container ID:   containerd://4f5e6d
    Image:          registry.example.com/shop/orders-api:v1.8.2
    Image ID:       registry.example.com/shop/orders-api@sha256:9c1d
    Port:           8080/TCP
    Host Port:      0/TCP
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      Sun, 23 Nov 2025 03:10:02 +0000
      Finished:     Sun, 23 Nov 2025 03:10:04 +0000
    Ready:          False
    Restart Count:  6
    Limits:
      memory:  256Mi
    Requests:
      cpu:        100m
      memory:     128Mi
    Environment:
      DB_HOST:  <set to the key 'DB_HOST' of config map 'orders-api-config'>  Optional: false
Conditions:
  Type              Status
  Initialized       True
  Ready             False
  ContainersReady   False
  PodScheduled      True
QoS Class:                   Burstable
Events:
  Type     Reason     Age                  From               Message
  ----     ------     ----                 ----               -------
  Normal   Scheduled  12m                  default-scheduler  Successfully assigned shop/orders-api-6f7c9d8b5-x2k4p to node-2
  Normal   Pulled     10m (x5 over 12m)    kubelet            Container image "registry.example.com/shop/orders-api:v1.8.2" already present on machine
  Warning  BackOff    2m (x45 over 12m)    kubelet            Back-off restarting failed container orders-api in pod orders-api-6f7c9d8b5-x2k4p_shop(7c1e)
"""


def test_describe_crash_loop():
    found = analyze_text(
        "pod_describe", DESCRIBE_CRASH, args={"pod": "orders-api-6f7c9d8b5-x2k4p", "namespace": "shop"}
    )
    check_evidence(found, DESCRIBE_CRASH)
    [f] = found
    assert f.signature == "crash-loop"
    assert (f.facts["exit_code"], f.facts["restarts"], f.facts["last_reason"]) == (1, 6, "Error")
    assert f.facts["deployment"] == "orders-api" and f.facts["container"] == "orders-api"
    assert parse_calls(f.next_checks[0]) == [
        (
            "pod_logs",
            {
                "pod": "orders-api-6f7c9d8b5-x2k4p",
                "namespace": "shop",
                "container": "orders-api",
                "previous": True,
            },
        )
    ]


def test_describe_oom_killed():
    text = DESCRIBE_CRASH.replace(
        "      Reason:       Error\n      Exit Code:    1",
        "      Reason:       OOMKilled\n      Exit Code:    137",
    )
    [f] = analyze_text("pod_describe", text)
    assert f.signature == "oom-killed" and f.facts["exit_code"] == 137 and f.facts["memory_limit"] == "256Mi"
    assert "Reason:       OOMKilled" in f.evidence[0].lines and "memory:  256Mi" in f.evidence[0].lines
    assert ("rollout_undo", {"deployment": "orders-api", "namespace": "shop"}) in parse_calls(f.remediation)
    check_evidence([f], text)


def test_describe_image_pull_not_found_vs_unauthorized():
    text = (
        DESCRIBE_CRASH.replace(
            """    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      Sun, 23 Nov 2025 03:10:02 +0000
      Finished:     Sun, 23 Nov 2025 03:10:04 +0000
""",
            """    State:          Waiting
      Reason:       ImagePullBackOff
""",
        )
        .replace("Restart Count:  6", "Restart Count:  0")
        .replace("orders-api:v1.8.2", "orders-api:v1.9.0")
    )
    text = (
        text.split("Events:")[0]
        + """Events:
  Type     Reason     Age                From               Message
  ----     ------     ----               ----               -------
  Normal   Pulling    3m (x4 over 5m)    kubelet            Pulling image "registry.example.com/shop/orders-api:v1.9.0"
  Warning  Failed     3m (x4 over 5m)    kubelet            Failed to pull image "registry.example.com/shop/orders-api:v1.9.0": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/shop/orders-api:v1.9.0": failed to resolve reference "registry.example.com/shop/orders-api:v1.9.0": registry.example.com/shop/orders-api:v1.9.0: not found
  Warning  Failed     3m (x4 over 5m)    kubelet            Error: ErrImagePull
  Normal   BackOff    2m (x6 over 5m)    kubelet            Back-off pulling image "registry.example.com/shop/orders-api:v1.9.0"
"""
    )
    [f] = analyze_text("pod_describe", text)
    assert f.signature == "image-pull-failed" and f.facts["cause"] == "tag-not-found"
    assert f.facts["image"] == "registry.example.com/shop/orders-api:v1.9.0"
    check_evidence([f], text)
    denied = text.replace(
        "rpc error: code = NotFound desc = failed to pull and unpack image",
        "rpc error: code = Unknown desc = failed to authorize",
    ).replace(": not found", ": 401 Unauthorized")
    [g] = analyze_text("pod_describe", denied)
    assert g.facts["cause"] == "unauthorized" and "imagePullSecrets" in g.remediation


def test_events_probes_and_scheduling():
    text = """\
LAST SEEN   TYPE      REASON             OBJECT                         MESSAGE
5m          Normal    Scheduled          pod/web-7d9f8c6b5-abcde        Successfully assigned shop/web-7d9f8c6b5-abcde to node-1
2m          Warning   Unhealthy          pod/web-7d9f8c6b5-abcde        Readiness probe failed: HTTP probe failed with statuscode: 503
1m          Warning   Unhealthy          pod/cart-5c8d7b9f4-qwert       Liveness probe failed: Get "http://10.244.1.9:8080/healthz": dial tcp 10.244.1.9:8080: connect: connection refused
30s         Warning   FailedScheduling   pod/batch-1-xyz12              0/3 nodes are available: 3 Insufficient memory.
"""
    found = analyze_text("k8s_events", text, args={"namespace": "shop"})
    check_evidence(found, text)
    sigs = sorted((f.signature, f.facts["pod"]) for f in found)
    assert sigs == [
        ("pod-unschedulable", "batch-1-xyz12"),
        ("probe-failing", "cart-5c8d7b9f4-qwert"),
        ("probe-failing", "web-7d9f8c6b5-abcde"),
    ]
    ready = next(f for f in found if f.facts.get("probe") == "readiness")
    assert "statuscode: 503" in ready.facts["detail"]


# ------------------------------------------------------------------ resources

DF = """\
Filesystem      Size  Used Avail Use% Mounted on
udev            3.9G     0  3.9G   0% /dev
tmpfs           796M  1.2M  795M   1% /run
/dev/sda1        20G  6.1G   13G  33% /
/dev/sdb1        50G   50G     0 100% /var
tmpfs           3.9G     0  3.9G   0% /dev/shm

Filesystem       Inodes  IUsed    IFree IUse% Mounted on
/dev/sda1       1310720 250112  1060608   20% /
/dev/sdb1       3276800  41230  3235570    2% /var

47G     /var/log/app/debug.log
1.2G    /var/lib/postgresql
"""


def test_disk_full_df_and_enospc():
    [f] = analyze_text("disk_usage", DF, args={"path": "/var"})
    assert f.signature == "disk-full" and f.facts["mount"] == "/var" and f.facts["use_percent"] == 100
    assert f.facts["largest"][0] == "/var/log/app/debug.log"
    check_evidence([f], DF)
    log = (
        "2025-11-23T03:00:01Z ERROR write /var/lib/app/queue/000123.seg: no space left on device\n"
        "OSError: [Errno 28] No space left on device: '/var/lib/app/cache/x.tmp'\n"
    )
    [g] = analyze_text("log_tail", log)
    assert g.signature == "disk-full" and g.facts["path"] == "/var/lib/app/cache/x.tmp"
    assert g.next_checks == ['disk_usage(path="/var/lib/app/cache")']


def test_kernel_oom():
    text = (
        "Nov 23 03:00:00 app-02 kernel: Out of memory: Killed process 2314 (java) total-vm:8123456kB, "
        "anon-rss:3900000kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:8200kB oom_score_adj:0\n"
    )
    [f] = analyze_text("log_tail", text)
    assert f.signature == "oom-killed" and f.facts["process"] == "java" and f.facts["pid"] == 2314


# ------------------------------------------------------------------ no false positives


@pytest.mark.parametrize(
    "text",
    [
        SYSTEMCTL_OK,
        "max_connections = 100\nshared_buffers = 128MB\n# superuser_reserved_connections = 3\n",
        "Build finished: 0 errors, 0 warnings\nall 112 tests passed\n",
        "2025/11/23 04:00:00 [notice] 902#902: signal process started, 0 errors\n",
        "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        20G  6.1G   13G  33% /\n",
        "db.internal has address 10.0.3.12\n",
        (
            "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
            'LISTEN 0      511          0.0.0.0:80        0.0.0.0:*     users:(("nginx",pid=901,fd=6))\n'
        ),
        "NAME   READY   STATUS    RESTARTS   AGE\nweb-7d9f8c6b5-abcde   1/1   Running   0   3d\n",
        "INFO retrying connection to cache (attempt 1), timeout budget 5s\nINFO connected\n",
        "subject=CN = shop.example.com\nnotAfter=Nov  1 00:00:00 2027 GMT\ndays_left=708\nstatus=OK\n",
    ],
)
def test_no_false_positives(text):
    assert analyze_text("log_tail", text) == []


def test_error_result_and_broken_input_do_not_raise():
    r = ToolResult(
        tool="port_owner",
        args={"port": 80},
        ok=False,
        error="port_owner is not available on target x",
        target="x",
        started_at=datetime.now(UTC),
    )
    assert analyze(r, "c") == []
    assert analyze_text("pod_describe", "Name:\nContainers:\n  :\n    State: \x00\n") == []
    assert analyze_text("list_pods", "\n".join("x" * 10_000 for _ in range(50))) == []


def test_ids_stable():
    a = analyze_text("log_tail", NGINX_ERROR_LOG, call_id="a")
    b = analyze_text("log_tail", NGINX_ERROR_LOG, call_id="b")
    assert [f.finding_id for f in a] == [f.finding_id for f in b]


def test_hostile_lines_stay_fast():
    """Long pathological lines (logs are attacker-influenced) must not make any regex blow up."""
    import time

    pieces = [
        "x" * 8000,
        "/a" * 4000,
        "a." * 4000,
        "a:" * 4000,
        "aaaa Pool" * 800,
        "[emerg] in " * 700,
        "Connection refused " + "a.b:" * 2000,
        "denied /a/" * 800,
        'Failed to pull image "' + "a" * 6000,
        "no space left on device '/" + "a/" * 3000,
        "lookup " + "a." * 3000,
        'users:(("' * 800,
    ]
    text = "\n".join(p for p in pieces for _ in range(3))
    start = (
        time.process_time()
    )  # CPU time: a catastrophic regex costs minutes, other processes cost nothing here
    for tool in ("log_tail", "pod_describe", "list_pods", "port_owner", "http_check", "dns_lookup"):
        analyze_text(tool, text, args={})
    assert time.process_time() - start < 3.0


# ------------------------------------------------------------------ later signatures


def test_running_unit_history_and_self_owned_port_are_not_conflicts():
    restarted = SYSTEMCTL_BIND.replace("Active: failed (Result: exit-code)", "Active: active (running)")
    assert by_sig(analyze_text("service_status", restarted, args={"service": "nginx"}), "port-in-use") == []
    bind = analyze_text("service_status", SYSTEMCTL_BIND, args={"service": "nginx"})
    own = SS_OWNER.replace('"node",pid=2314', '"nginx",pid=901').replace(
        "2314 deploy   Mon Nov 17 09:41:22 2025 node /opt/old-app/server.js",
        "901 root     Mon Nov 17 09:41:22 2025 nginx: master process /usr/sbin/nginx -g daemon on;",
    )
    assert analyze_text("port_owner", own, args={"port": 80}, prior=bind) == []


def test_postgres_auth_lock_and_replication():
    auth = (
        'time=2026-02-03T10:25:10Z level=ERROR msg="db connect failed" err="failed to connect to `user=billing`: '
        '10.0.3.12:5432: server error: FATAL: password authentication failed for user \\"billing\\" '
        '(SQLSTATE 28P01)"\n'
    )
    [a] = analyze_text("log_tail", auth)
    assert a.signature == "db-auth-failed" and a.facts["user"] == "billing"
    lock = """\
2026-09-24 14:15:31.402 UTC [23790] deploy@shop LOG:  process 23790 still waiting for AccessExclusiveLock on relation 16402 of database 16384 after 1000.112 ms
2026-09-24 14:15:31.402 UTC [23790] deploy@shop DETAIL:  Process holding the lock: 23544. Wait queue: 23790.
2026-09-24 14:15:31.402 UTC [23790] deploy@shop STATEMENT:  ALTER TABLE products ADD COLUMN gtin varchar(14)
"""
    [lk] = analyze_text("log_tail", lock)
    assert lk.signature == "db-lock-wait" and lk.facts["holder_pid"] == 23544
    assert lk.facts["locks"] == ["AccessExclusiveLock"] and "kill_process(pid=23544)" in lk.remediation
    check_evidence([lk], lock)
    wal = (
        "2026-11-11 13:01:12.331 UTC [88120] FATAL:  could not receive data from WAL stream: ERROR:  requested "
        "WAL segment 0000000100000A3F000000C2 has already been removed\n"
    )
    [w] = analyze_text("log_tail", wal)
    assert w.signature == "db-replication-broken" and w.facts["segment"] == "0000000100000A3F000000C2"


def test_missing_config_and_heap():
    log = (
        '{"level":"fatal","ts":"2026-03-18T11:36:57.882Z","msg":"invalid configuration","error":"DATABASE_URL '
        'is required but not set"}\n'
    )
    [m] = analyze_text("pod_logs", log)
    assert m.signature == "missing-config" and m.facts["name"] == "DATABASE_URL"
    py = "Traceback (most recent call last):\n  File \"app.py\", line 3\nKeyError: 'REDIS_URL'\n"
    assert analyze_text("pod_logs", py)[0].facts["name"] == "REDIS_URL"
    java = (
        "Sep 01 04:39:58 search-01 java[88231]: Terminating due to java.lang.OutOfMemoryError: Java heap space\n"
        "search 88231 java -Xms512m -Xmx512m -jar /opt/search-indexer/indexer.jar\n"
    )
    [h] = analyze_text("log_tail", java)
    assert (
        h.signature == "heap-exhausted"
        and h.facts["max_heap"] == "512m"
        and h.facts["kind"] == "Java heap space"
    )
    assert analyze_text("log_tail", "cache hit ratio 0.97, heap used 41%\nUSER is set to app\n") == []


def test_evicted_pods_and_postgres_permissions():
    rows = (
        "NAME                          READY   STATUS    RESTARTS   AGE\n"
        "log-shipper-7c6b5d4f8-4xk2p   0/1     Evicted   0          70m\n"
    )
    [e] = analyze_text("list_pods", rows, args={"namespace": "logging"})
    assert e.signature == "pod-evicted" and e.next_checks[0].startswith("pod_describe(")
    events = (
        "LAST SEEN   TYPE      REASON    OBJECT                            MESSAGE\n"
        "70m         Warning   Evicted   Pod/log-shipper-7c6b5d4f8-4xk2p   The node was low on resource: "
        "ephemeral-storage. Threshold quantity: 10%, available: 4188012Ki.\n"
    )
    [ev] = analyze_text("k8s_events", events, args={"namespace": "logging"})
    assert ev.facts["pod"] == "log-shipper-7c6b5d4f8-4xk2p" and ev.facts["resource"] == "ephemeral-storage"
    pg = (
        "postgresql@15-main[842]: 2026-08-19 18:55:21.014 UTC [851] FATAL:  data directory "
        '"/var/lib/postgresql/15/main" has invalid permissions\n'
    )
    [p] = analyze_text("service_status", pg)
    assert p.signature == "permission-denied" and p.facts["path"] == "/var/lib/postgresql/15/main"


def test_certbot_renewed_without_reload_and_disk_culprit():
    certbot = (
        "2026-10-22 04:18:36,901:DEBUG:certbot._internal.renewal:new certificate deployed without reload, "
        "fullchain is /etc/letsencrypt/live/api.example.com/fullchain.pem\n"
        "  /etc/letsencrypt/live/api.example.com/fullchain.pem expires on 2027-01-20 (skipped)\n"
    )
    [c] = analyze_text("log_tail", certbot)
    assert c.signature == "tls-cert-not-reloaded" and c.facts["renewed_until"] == "2027-01-20"
    [full] = analyze_text("disk_usage", DF.split("\n47G")[0], args={"path": "/var"})
    syslog = (
        "Nov 23 02:00:01 ingest-prod-02 disk-watch[61006]: /var at 99% (49G of 50G) - largest: 41G "
        "/var/log/ingest/debug.log, 2.6G /var/lib/ingest/spool, 1.4G /var/log/journal\n"
    )
    big = by_sig(analyze_text("log_tail", syslog, prior=[full]), "disk-full")
    assert [b.facts["path"] for b in big] == ["/var/log/ingest/debug.log"] and big[0].facts["size"] == "41G"
    assert analyze_text("log_tail", syslog) == []  # sizes alone are not a fault without a full disk
