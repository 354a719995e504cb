"""The `local` target against this real machine: processes, sockets, files, HTTP and TLS servers.

Nothing is mocked. Each test starts what it inspects (a listener, a service-like
process, a log file, a web server) and checks the tool reports exactly that.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import psutil
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tools.facts import ServiceFacts, ServiceProcess
from tools.host.parse import parse_systemctl_status
from tools.render_host import render_service_status
from tools.runner import run_tool
from tools.targets import open_target
from tools.targets.base import TargetConfig
from tools.targets.local import LocalTarget

PY = sys.executable


def _spawn(argv: list[str]) -> subprocess.Popen:
    """A real child process; stdout is a pipe so it can report readiness with one line."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def _start(code: str, *args: str) -> subprocess.Popen:
    return _spawn([PY, "-c", code, *args])


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)


@pytest.fixture
def target(tmp_path: Path) -> LocalTarget:
    logs = tmp_path / "logs"
    logs.mkdir()
    return LocalTarget("local", TargetConfig(log_roots=[logs], http_allow=["127.0.0.1", "localhost"]))


@pytest.fixture
def logs(target: LocalTarget) -> Path:
    return target.config.log_roots[0]


# ---------------------------------------------------------------- port_owner

LISTENER = """
import socket, sys, time
kind = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
if kind == "tcp":
    s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""


@pytest.fixture(params=["tcp", "udp"])
def listener(request) -> Iterator[tuple[subprocess.Popen, int, str, str]]:
    marker = f"fl-listener-{uuid.uuid4().hex[:8]}"
    proc = _start(LISTENER, request.param, marker)
    port = int(proc.stdout.readline())
    yield proc, port, request.param, marker
    _stop(proc)


async def test_port_owner_reports_the_listening_process(target, listener):
    proc, port, protocol, marker = listener
    r = await run_tool(target, "port_owner", {"port": port, "protocol": protocol})
    assert r.ok and r.exit_code == 0 and r.error is None, r
    assert f"pid={proc.pid}," in r.output
    assert f"127.0.0.1:{port}" in r.output
    assert ("LISTEN" if protocol == "tcp" else "UNCONN") in r.output
    owner_line = next(line for line in r.output.splitlines() if line.strip().startswith(str(proc.pid)))
    assert marker in owner_line and psutil.Process(proc.pid).username()[:7] in owner_line
    assert r.command.startswith(f"ss -l{protocol[0]}np 'sport = :{port}'")
    sock = r.data["sockets"][0]
    assert sock["pid"] == proc.pid and marker in sock["cmdline"] and sock["local_port"] == port


async def test_port_owner_nobody_listening(target):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening, closed before the call
    r = await run_tool(target, "port_owner", {"port": port})
    assert not r.ok and r.exit_code == 1
    assert f"no process is listening on tcp port {port}" in r.output
    assert r.data["sockets"] == []


# ---------------------------------------------------------------- log_tail


async def test_log_tail_last_lines_and_grep(target, logs):
    lines = [
        f"2024-11-23T03:12:{i % 60:02d} {'ERROR' if i % 7 == 0 else 'INFO'} request {i}" for i in range(500)
    ]
    (logs / "app.log").write_text("\n".join(lines) + "\n")
    r = await run_tool(target, "log_tail", {"source": str(logs / "app.log"), "lines": 5})
    assert r.ok and r.output.splitlines() == lines[-5:]
    assert r.command == f"tail -n 5 {logs / 'app.log'}" and r.source == "file"

    r = await run_tool(target, "log_tail", {"source": "app.log", "lines": 30, "grep": r"ERROR request \d+"})
    assert r.output.splitlines() == [x for x in lines[-30:] if "ERROR" in x]
    assert r.command.endswith("| grep -E 'ERROR request \\d+'")
    assert r.data["lines_read"] == 30 and r.data["lines_shown"] == len(r.output.splitlines())

    r = await run_tool(target, "log_tail", {"source": "app.log", "lines": 3, "grep": "no-such-text"})
    assert r.ok and r.exit_code == 1 and "no line among the last 3" in r.output


async def test_log_tail_large_files_read_from_the_end(target, logs):
    big = logs / "big.log"
    row = "x" * 90 + " line {:07d}\n"
    with big.open("w") as f:
        f.writelines(row.format(i) for i in range(60_000))  # ~6 MB
    assert big.stat().st_size > 5_000_000
    t0 = time.perf_counter()
    r = await run_tool(target, "log_tail", {"source": str(big), "lines": 20})
    elapsed = time.perf_counter() - t0
    assert r.output.splitlines() == [row.format(i).rstrip("\n") for i in range(59_980, 60_000)]
    assert r.data["file_size"] == big.stat().st_size and r.data["lines_read"] == 20
    assert elapsed < 0.5, elapsed

    sparse = logs / "huge.log"  # 3 GB apparent size, a few real lines at the end
    with sparse.open("wb") as f:
        f.truncate(3 * 1024**3)
        f.seek(0, os.SEEK_END)
        f.write(b"\nlast-but-one\nlast\n")
    t0 = time.perf_counter()
    r = await run_tool(target, "log_tail", {"source": "huge.log", "lines": 2})
    assert r.output.splitlines() == ["last-but-one", "last"] and time.perf_counter() - t0 < 0.5


async def test_log_tail_invalid_regex_is_a_clear_error(target, logs):
    (logs / "a.log").write_text("one\n")
    r = await run_tool(target, "log_tail", {"source": "a.log", "grep": "(unclosed"})
    assert not r.ok and r.exit_code is None and "not a valid regular expression" in r.error


async def test_log_tail_refuses_hard_links_and_foreign_owners(target, logs, tmp_path):
    """Issue 15 item 9: a hard link to /etc/shadow placed in a log root was read (realpath cannot see it)."""
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n")
    os.link(secret, logs / "innocent.log")
    r = await run_tool(target, "log_tail", {"source": "innocent.log"})
    assert not r.ok and "2 hard links" in r.error and "hashhash" not in r.output
    (logs / "mine.log").write_text("ok\n")
    strict = LocalTarget("local", TargetConfig(log_roots=[logs], log_owners=["no-such-owner"]))
    r = await run_tool(strict, "log_tail", {"source": "mine.log"})
    assert not r.ok and "log_owners" in r.error
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    r = await run_tool(
        LocalTarget("local", TargetConfig(log_roots=[logs], log_owners=[me])),
        "log_tail",
        {"source": "mine.log"},
    )
    assert r.ok and r.output == "ok\n"


def _fifo_writer(path: Path) -> threading.Thread:
    """Opening a FIFO for writing blocks until someone opens it for reading: a tripwire for 'opened'."""
    t = threading.Thread(target=lambda: os.close(os.open(path, os.O_WRONLY)), daemon=True)
    t.start()
    return t


async def test_log_tail_refuses_paths_outside_the_roots_without_opening_them(target, logs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    tripwire = outside / "secret.log"
    os.mkfifo(tripwire)
    writer = _fifo_writer(tripwire)
    (logs / "escape.log").symlink_to(tripwire)
    (logs / "dir").symlink_to(outside)
    bad = [
        "../../etc/shadow",
        "../outside/secret.log",
        "/etc/shadow",
        str(tripwire),
        "escape.log",
        str(logs / "escape.log"),
        "dir/secret.log",
        str(logs / "sub" / ".." / ".." / "outside" / "secret.log"),
    ]
    for source in bad:
        r = await run_tool(target, "log_tail", {"source": source})
        assert not r.ok and r.exit_code is None and r.output == "", source
        assert "refused" in r.error, (source, r.error)
    await asyncio.sleep(0.05)
    assert writer.is_alive(), "a refused path was opened"
    os.close(os.open(tripwire, os.O_RDONLY | os.O_NONBLOCK))  # release the tripwire
    writer.join(timeout=2)


async def test_log_tail_allows_symlinks_that_stay_inside(target, logs):
    (logs / "real.log").write_text("a\nb\n")
    (logs / "current.log").symlink_to(logs / "real.log")
    r = await run_tool(target, "log_tail", {"source": "current.log", "lines": 1})
    assert r.ok and r.output == "b\n" and r.data["path"] == str((logs / "real.log").resolve())


async def test_log_tail_missing_file_journal_and_pod_sources(target, logs):
    r = await run_tool(target, "log_tail", {"source": "nope.log"})
    assert not r.ok and "no such log file" in r.error
    r = await run_tool(target, "log_tail", {"source": "pod:default/web-1"})
    assert not r.ok and "kubernetes" in r.error
    if not target.systemd:
        r = await run_tool(target, "log_tail", {"source": "unit:nginx"})
        assert not r.ok and "no journal" in r.error and r.command == "journalctl -u nginx -n 50 --no-pager"


async def test_shell_metacharacters_never_execute(target, logs, tmp_path):
    sentinel = tmp_path / "pwned"
    (logs / "a.log").write_text("hello\n")
    attempts = [
        ("service_status", {"service": f"nginx; touch {sentinel}"}),
        ("service_status", {"service": f"$(touch {sentinel})"}),
        ("service_status", {"service": f"`touch {sentinel}`"}),
        ("restart_service", {"service": f"x && touch {sentinel}"}),
        ("log_tail", {"source": f"unit:nginx; touch {sentinel}"}),
        ("disk_usage", {"path": f"/; touch {sentinel}"}),
        ("dns_lookup", {"name": f"a.com; touch {sentinel}"}),
        ("http_check", {"url": f"http://127.0.0.1/$(touch {sentinel})"}),
    ]
    for name, args in attempts:
        r = await run_tool(target, name, args, approved=True)
        assert not r.ok and r.error and r.exit_code is None, (name, args, r)
    r = await run_tool(target, "log_tail", {"source": "a.log", "grep": f"'; touch {sentinel}; echo '"})
    assert r.ok and r.exit_code == 1  # a (valid) regex that matches nothing, applied in Python
    r = await run_tool(target, "process_list", {"match": f"; touch {sentinel}"})
    assert r.ok
    assert not sentinel.exists()
    r = await run_tool(target, "service_status", {"service": "nginx; rm -rf /"})
    assert r.exit_code is None and "not a valid service name" in r.error


# ---------------------------------------------------------------- service_status

SERVICE = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
print(child.pid, flush=True)
time.sleep(60)
"""


async def test_service_status_from_the_process_table(target, logs, tmp_path):
    name = f"fl-svc-{uuid.uuid4().hex[:6]}"
    script = tmp_path / f"{name}.py"
    script.write_text(SERVICE)
    (logs / f"{name}.log").write_text("starting\nlistening on :8080\n")
    proc = _spawn([PY, str(script)])
    try:
        child = int(proc.stdout.readline())
        r = await run_tool(target, "service_status", {"service": name})
        if target.systemd:
            pytest.skip("systemd is PID 1 here: service_status uses systemctl")
        assert r.ok and r.exit_code == 0 and r.source == "psutil"
        assert r.output.startswith("# source: psutil (systemd is not PID 1")
        assert f"● {name}.service" in r.output
        assert "Active: active (running) since " in r.output
        assert f"Main PID: {proc.pid} (" in r.output
        assert re.search(rf"[├└]─{child} sleep 60", r.output)
        assert "listening on :8080" in r.output and r.command == f"systemctl status {name}"
        assert r.data["main_pid"] == proc.pid and {p["pid"] for p in r.data["processes"]} >= {proc.pid, child}
    finally:
        _stop(proc)
        psutil.Process(child).kill() if psutil.pid_exists(child) else None
    r = await run_tool(target, "service_status", {"service": name})
    assert not r.ok and r.exit_code == 3 and "Active: inactive (dead)" in r.output


@pytest.mark.parametrize(
    ("active", "sub", "main_pid"),
    [("active", "running", 700), ("failed", "failed", None), ("activating", "auto-restart", 900)],
)
def test_systemctl_status_text_parses_back_to_its_state(active, sub, main_pid):
    facts = ServiceFacts(
        name="nginx",
        unit_path="/lib/systemd/system/nginx.service",
        active=active,
        sub=sub,
        main_pid=main_pid,
        main_cmd="nginx",
        result=None if active == "active" else "exit-code",
        since=dt.datetime.now(dt.UTC),
        processes=[ServiceProcess(pid=700, cmd="nginx")] if main_pid else [],
    )
    parsed = parse_systemctl_status(render_service_status(facts).text)
    assert parsed == {
        "loaded": "loaded",
        "active": active,
        "sub": sub,
        "main_pid": main_pid,
        "result": facts.result,
    }


async def test_service_status_unknown_service(target):
    r = await run_tool(target, "service_status", {"service": f"no-such-{uuid.uuid4().hex[:6]}"})
    assert r.exit_code == 4 and not r.ok and "could not be found." in r.output


async def test_restart_needs_approval_and_systemd(target):
    r = await run_tool(target, "restart_service", {"service": "nginx"})
    assert not r.ok and "approval" in r.error
    if not target.systemd:
        r = await run_tool(target, "restart_service", {"service": "nginx"}, approved=True)
        assert not r.ok and "without systemd" in r.error


# ---------------------------------------------------------------- kill_process


async def test_kill_process_only_when_approved(target):
    proc = _spawn(["sleep", "60"])
    try:
        r = await run_tool(target, "kill_process", {"pid": proc.pid})
        assert not r.ok and "approval" in r.error and proc.poll() is None
        r = await run_tool(target, "kill_process", {"pid": proc.pid, "signal": "TERM"}, approved=True)
        assert r.ok and f"sent SIGTERM to {proc.pid} (sleep 60)" in r.output and r.data["exited"] is True
        assert proc.wait(timeout=2) == -15
    finally:
        _stop(proc)
    r = await run_tool(target, "kill_process", {"pid": proc.pid}, approved=True)
    assert not r.ok and "no process" in r.error
    r = await run_tool(target, "kill_process", {"pid": os.getpid()}, approved=True)
    assert not r.ok and "Firstline itself" in r.error


# ---------------------------------------------------------------- timeouts

HANG = """
import os, subprocess, sys, time
grandchild = subprocess.Popen(["sleep", "30"])
open(sys.argv[1], "w").write(f"{os.getpid()} {grandchild.pid}")
time.sleep(30)
"""


class HangingTarget(LocalTarget):
    """Runs a hanging command through the same subprocess helper as every real tool."""

    pidfile: Path

    def call_timeout(self, tool_name: str) -> float:
        return 0.7

    async def tool_host_resources(self, args):
        await self.exec([PY, "-c", HANG, str(self.pidfile)], "host_resources")


def _gone(pid: int, wait_s: float = 2.0) -> bool:
    """Dead (or a zombie nobody reaps yet) within `wait_s`: SIGKILL is not instantaneous."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


async def _pids(pidfile: Path) -> list[int]:
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text():
            return [int(x) for x in pidfile.read_text().split()]
        await asyncio.sleep(0.02)
    raise AssertionError("child never started")


async def test_hanging_command_is_killed_at_its_timeout(tmp_path):
    t = HangingTarget("local")
    t.pidfile = tmp_path / "pids"
    t0 = time.perf_counter()
    r = await run_tool(t, "host_resources", {})
    assert not r.ok and "timed out" in r.error and r.exit_code is None
    assert 0.6 < time.perf_counter() - t0 < 3
    for pid in await _pids(t.pidfile):
        assert _gone(pid), f"process {pid} survived the timeout"


async def test_cancelled_call_kills_its_child(tmp_path):
    t = HangingTarget("local")
    t.pidfile = tmp_path / "pids"
    t.call_timeout = lambda name: 30  # type: ignore[method-assign]
    task = asyncio.create_task(t.tool_host_resources(None))
    pids = await _pids(t.pidfile)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert all(_gone(pid) for pid in pids)


# ---------------------------------------------------------------- processes, resources, disk


async def test_process_list_matches_a_real_process(target):
    marker = f"fl-proc-{uuid.uuid4().hex[:8]}"
    proc = _start("import time; time.sleep(60)", marker)
    try:
        r = await run_tool(target, "process_list", {"match": marker})
        rows = r.output.splitlines()
        assert rows[0].split() == [
            "USER",
            "PID",
            "%CPU",
            "%MEM",
            "VSZ",
            "RSS",
            "TTY",
            "STAT",
            "START",
            "TIME",
            "COMMAND",
        ]
        assert len(rows) == 2 and rows[1].split()[1] == str(proc.pid) and rows[1].endswith(marker)
        assert r.data["count"] == 1 and r.data["processes"][0]["pid"] == proc.pid
    finally:
        _stop(proc)


async def test_host_resources_and_disk_usage(target, tmp_path):
    r = await run_tool(target, "host_resources", {})
    assert r.ok and re.match(
        r"^ \d\d:\d\d:\d\d up .*load average: [\d.]+, [\d.]+, [\d.]+$", r.output.splitlines()[0]
    )
    mem = next(line for line in r.output.splitlines() if line.startswith("Mem:"))
    assert int(mem.split()[1]) == psutil.virtual_memory().total // 2**20
    assert f"CPU(s): {psutil.cpu_count()}" in r.output and "%Cpu(s):" in r.output

    r = await run_tool(target, "disk_usage", {"path": str(tmp_path)})
    st = os.statvfs(tmp_path)
    assert r.ok and r.data["size"] == st.f_blocks * st.f_frsize and r.data["inodes_total"] == st.f_files
    assert r.output.startswith("Filesystem      Size  Used Avail Use% Mounted on\n")
    r = await run_tool(target, "disk_usage", {"path": str(tmp_path / "missing")})
    assert not r.ok and "no such file" in r.error


# ---------------------------------------------------------------- DNS


async def test_dns_lookup(target):
    r = await run_tool(target, "dns_lookup", {"name": "localhost"})
    assert r.ok and "localhost has address 127.0.0.1" in r.output and r.command == "host localhost"
    r = await run_tool(target, "dns_lookup", {"name": "127.0.0.1"})
    assert "1.0.0.127.in-addr.arpa domain name pointer" in r.output or "not found" in r.output
    r = await run_tool(target, "dns_lookup", {"name": f"fl-{uuid.uuid4().hex[:8]}.invalid"})
    assert not r.ok and r.exit_code == 1
    assert "not found: 3(NXDOMAIN)" in r.output or "no servers could be reached" in r.output


# ---------------------------------------------------------------- HTTP


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        _Handler.hits.append(self.path)
        if self.path == "/redirect":
            body, status, extra = b"", 302, [("Location", "http://evil.example.com/")]
        elif self.path == "/big":
            body, status, extra = b"A" * 10_000, 200, []
        else:
            body, status, extra = b'{"status":"down","db":"timeout"}', 503, [("X-Upstream", "db-1")]
        self.send_response(status)
        for k, v in [*extra, ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def web() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    _Handler.hits.clear()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_http_check_shows_status_headers_body_and_timing(target, web):
    r = await run_tool(target, "http_check", {"url": f"http://127.0.0.1:{web}/health"})
    lines = r.output.splitlines()
    assert r.ok and lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "X-Upstream: db-1" in lines and '{"status":"down","db":"timeout"}' in lines
    assert re.fullmatch(r"time_total=\d+\.\d{3}s", lines[-1])
    assert r.data["status"] == 503 and r.command == f"curl -sS -i -m 10 http://127.0.0.1:{web}/health"

    r = await run_tool(target, "http_check", {"url": f"http://127.0.0.1:{web}/redirect"})
    assert r.output.startswith("HTTP/1.1 302 Found") and "Location: http://evil.example.com/" in r.output
    assert _Handler.hits == ["/health", "/redirect"]  # the redirect was not followed

    r = await run_tool(target, "http_check", {"url": f"http://127.0.0.1:{web}/big"})
    assert "A" * 2048 in r.output and "A" * 2049 not in r.output and "body truncated" in r.output


async def test_http_check_refuses_hosts_off_the_allow_list_before_connecting(web):
    t = LocalTarget("local", TargetConfig(http_allow=["127.0.0.1"]))
    r = await run_tool(t, "http_check", {"url": f"http://localhost:{web}/health"})
    assert not r.ok and "allow-list" in r.error and r.exit_code is None
    r = await run_tool(t, "http_check", {"url": "https://example.com/"})
    assert not r.ok and "allow-list" in r.error
    assert _Handler.hits == []


async def test_http_check_checks_the_address_not_just_the_name(web):
    """Issue 15 item 6: an allowed name resolving to a loopback address, and the server's own port."""
    by_name = LocalTarget("local", TargetConfig(http_allow=["localhost"]))  # the name only, not its address
    r = await run_tool(by_name, "http_check", {"url": f"http://localhost:{web}/health"})
    assert not r.ok and "resolves to" in r.error and "not on the allow-list itself" in r.error
    r = await run_tool(by_name, "tls_certificate", {"host": "localhost", "port": web})
    assert not r.ok and "resolves to" in r.error
    listed = LocalTarget("local", TargetConfig(http_allow=["localhost", "127.0.0.0/8", "::1"]))
    r = await run_tool(listed, "http_check", {"url": f"http://localhost:{web}/health"})
    assert r.ok and r.data["status"] == 503  # reached (the fixture's /health says 503)
    own = LocalTarget("local", TargetConfig(http_allow=["127.0.0.1"], deny_ports=[web]))
    r = await run_tool(own, "http_check", {"url": f"http://127.0.0.1:{web}/health"})
    assert not r.ok and "Firstline's own server" in r.error


async def test_http_check_connection_refused_like_curl(target):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await run_tool(target, "http_check", {"url": f"http://127.0.0.1:{port}/"})
    assert not r.ok and r.exit_code == 7
    assert r.output.startswith(f"curl: (7) Failed to connect to 127.0.0.1 port {port} after ")
    assert "Connection refused" in r.output


# ---------------------------------------------------------------- TLS


def _cert(tmp: Path, cn: str, not_before: dt.datetime, not_after: dt.datetime) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Firstline Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{cn}.crt", tmp / f"{cn}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path):
    servers = []

    def start(not_before: dt.datetime, not_after: dt.datetime) -> int:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*_cert(tmp_path, "api.internal", not_before, not_after))
        sock = socket.create_server(("127.0.0.1", 0))
        sock.settimeout(0.2)
        stop = threading.Event()

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                try:
                    with ctx.wrap_socket(conn, server_side=True):
                        pass
                except (OSError, ssl.SSLError):
                    conn.close()

        threading.Thread(target=serve, daemon=True).start()
        servers.append((sock, stop))
        return sock.getsockname()[1]

    yield start
    for sock, stop in servers:
        stop.set()
        sock.close()


async def test_tls_certificate_expired_and_valid(target, tls_server):
    now = dt.datetime.now(dt.UTC)
    port = tls_server(now - dt.timedelta(days=120), now - dt.timedelta(days=22, hours=1))
    r = await run_tool(target, "tls_certificate", {"host": "127.0.0.1", "port": port})
    assert r.ok, r
    assert "subject=O = Firstline Test, CN = api.internal" in r.output
    assert "status=EXPIRED" in r.output and "days_left=-22" in r.output
    assert re.search(r"^notAfter=\w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$", r.output, re.MULTILINE)
    assert "verify=failed: self-signed certificate" in r.output and r.data["verified"] is False

    port = tls_server(now - dt.timedelta(days=1), now + dt.timedelta(days=89, hours=1))
    r = await run_tool(target, "tls_certificate", {"host": "127.0.0.1", "port": port})
    assert (
        "status=OK" in r.output
        and r.data["days_left"] == 89
        and "subjectAltName=DNS:api.internal" in r.output
    )
    assert "self-signed" in r.data["verify_error"]


async def test_tls_certificate_refused_and_not_allowed(target):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = await run_tool(target, "tls_certificate", {"host": "127.0.0.1", "port": port})
    assert not r.ok and r.exit_code == 1 and "Connection refused" in r.output and "status=ERROR" in r.output
    r = await run_tool(target, "tls_certificate", {"host": "example.com"})
    assert not r.ok and "allow-list" in r.error


# ---------------------------------------------------------------- the target itself


async def test_open_target_and_supported_tools():
    t = open_target("local")
    assert isinstance(t, LocalTarget) and t.describe()["kind"] == "local"
    assert t.supports("port_owner") and not t.supports("pod_describe")
    r = await run_tool(t, "pod_describe", {"pod": "web-1"})
    assert not r.ok and "not available" in r.error
