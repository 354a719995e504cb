"""The `ssh:` target against a real OpenSSH server on loopback (tests/sshd.py), nothing mocked.

The server runs on this machine, so every answer it gives can be checked against the
`local` target's answer about the same processes, sockets and files: the SSH target
must report them parsed and rendered exactly like local does.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sshd import Sshd, keygen, start_sshd

from assistant import audit, store
from assistant.config import Settings
from assistant.findings import analyze
from tools.runner import run_tool
from tools.targets import TargetError, list_targets, open_target
from tools.targets.base import SshConfig, TargetConfig
from tools.targets.local import LocalTarget
from tools.targets.ssh import SshTarget
from web.app import create_app


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    server = start_sshd()
    yield server
    server.stop()


def _config(sshd: Sshd, **ssh) -> TargetConfig:
    settings = {
        "known_hosts": sshd.known_hosts,
        "key_file": sshd.client_key,
        "connect_timeout_s": 10,
        "command_timeout_s": 10,
        **ssh,
    }
    return TargetConfig(log_roots=[sshd.logs], ssh=SshConfig(**settings))


@pytest.fixture
async def target(sshd: Sshd) -> AsyncIterator[SshTarget]:
    t = open_target(sshd.target, _config(sshd))
    assert isinstance(t, SshTarget)
    yield t
    await t.aclose()


@pytest.fixture
def local(sshd: Sshd) -> LocalTarget:
    return LocalTarget("local", TargetConfig(log_roots=[sshd.logs]))


def _spawn_as(sshd: Sshd, argv: list[str]) -> subprocess.Popen:
    """A process owned by the SSH login user, as a service on that host would be."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd="/", **sshd.as_user())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)


def _ss_rows(text: str) -> list[list[str]]:
    """The ss table's words but Send-Q: a listener's backlog, which ss knows and psutil does not."""
    return [words[:2] + words[3:] for line in text.split("\n\n")[0].splitlines() if (words := line.split())]


def _findings(result) -> list[tuple[str, str]]:
    return sorted((f.signature, f.title) for f in analyze(result, "c1"))


# ---------------------------------------------------------------- read tools, parsed like local

LISTENER = (
    "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
    "print(s.getsockname()[1], flush=True); time.sleep(60)"
)
"""One line: ps shows the newlines of a multi-line argument as spaces, psutil's text as `?`."""


async def test_port_owner_finds_the_listener_like_local(target, local, sshd):
    marker = f"fl-listener-{uuid.uuid4().hex[:8]}"
    proc = _spawn_as(sshd, [sshd.python, "-c", LISTENER, marker])
    try:
        port = int(proc.stdout.readline())
        r = await run_tool(target, "port_owner", {"port": port})
        here = await run_tool(local, "port_owner", {"port": port})
    finally:
        _stop(proc)
    assert r.ok and r.exit_code == 0 and r.error is None, r
    assert f"pid={proc.pid}," in r.output and f"127.0.0.1:{port}" in r.output
    owner = next(line for line in r.output.splitlines() if line.strip().startswith(str(proc.pid)))
    assert marker in owner and sshd.user[:7] in owner
    assert _ss_rows(r.output) == _ss_rows(here.output)
    assert r.data["sockets"][0]["pid"] == here.data["sockets"][0]["pid"] == proc.pid
    assert r.data["sockets"][0]["cmdline"] == here.data["sockets"][0]["cmdline"]
    assert _findings(r) == _findings(here)
    assert r.command.startswith(f"ss -H -ltnp 'sport = :{port}'; ps -p {proc.pid} -ww -o ")
    assert r.target == sshd.target and r.source == "ssh:ss"
    assert r.data["ssh"]["host"] == "127.0.0.1" and r.data["ssh"]["argv"][0] == [
        "ss",
        "-H",
        "-ltnp",
        f"sport = :{port}",
    ]
    r = await run_tool(target, "port_owner", {"port": port})
    assert not r.ok and r.exit_code == 1 and f"no process is listening on tcp port {port}" in r.output


SHARED = """
import os, socket, sys, time
family, host, kind = socket.AF_INET6, "::1", sys.argv[1]
s = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
s.bind((host, 0))
if kind == "tcp":
    s.listen()
if os.fork() == 0:  # a worker sharing the socket, as nginx's and gunicorn's do
    time.sleep(60)
    os._exit(0)
print(s.getsockname()[1], flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
async def test_port_owner_ipv6_socket_shared_by_two_processes_like_local(target, local, sshd, protocol):
    proc = _spawn_as(sshd, [sshd.python, "-c", SHARED, protocol])
    try:
        port = int(proc.stdout.readline())
        worker = psutil.Process(proc.pid).children()[0].pid
        r = await run_tool(target, "port_owner", {"port": port, "protocol": protocol})
        here = await run_tool(local, "port_owner", {"port": port, "protocol": protocol})
    finally:
        for p in psutil.Process(proc.pid).children():
            p.kill()
        _stop(proc)
    assert r.ok and f"[::1]:{port}" in r.output and ("LISTEN" if protocol == "tcp" else "UNCONN") in r.output
    assert {s["pid"] for s in r.data["sockets"]} == {proc.pid, worker}
    assert len(r.output.split("\n\n")[0].splitlines()) == 2  # one ss row: both processes in its users:(...)
    # psutil (local) names one owner of a shared socket; ss names every process holding it
    assert [row[:-1] for row in _ss_rows(r.output)] == [row[:-1] for row in _ss_rows(here.output)]
    assert f"pid={proc.pid}," in r.output and f"pid={worker}," in r.output


SERVICE = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "60"])
print(child.pid, flush=True)
time.sleep(60)
"""


async def test_service_status_and_process_list_from_ps_like_local(target, local, sshd):
    name = f"fl-svc-{uuid.uuid4().hex[:6]}"
    script = sshd.logs.parent / f"{name}.py"
    script.write_text(SERVICE)
    script.chmod(0o644)
    (sshd.logs / f"{name}.log").write_text(
        "starting\nbind() to 0.0.0.0:8080 failed (98: Address already in use)\n"
    )
    proc = _spawn_as(sshd, [sshd.python, str(script)])
    try:
        child = int(proc.stdout.readline())
        r = await run_tool(target, "service_status", {"service": name})
        here = await run_tool(local, "service_status", {"service": name})
        ps = await run_tool(target, "process_list", {"match": name})
        ps_here = await run_tool(local, "process_list", {"match": name})
    finally:
        _stop(proc)
        if psutil.pid_exists(child):
            psutil.Process(child).kill()
    if here.source == "systemd":
        pytest.skip("systemd is PID 1 here: both targets use systemctl")
    assert r.ok and r.exit_code == 0 and r.source == "ssh:ps", r
    assert f"● {name}.service" in r.output and "Active: active (running) since " in r.output
    assert f"Main PID: {proc.pid} (" in r.output and f"└─{child} sleep 60" in r.output
    assert f"==> {sshd.logs / (name + '.log')} <==" in r.output and "Address already in use" in r.output
    assert r.data["main_pid"] == here.data["main_pid"] == proc.pid
    assert {p["pid"] for p in r.data["processes"]} == {p["pid"] for p in here.data["processes"]}
    head, head_here = (
        re.sub(r" since .*", "", x.output.split("\n", 1)[1].split("Tasks:")[0]) for x in (r, here)
    )
    assert head == head_here  # unit, Loaded, Active, Main PID alike (start times may differ by a second)
    assert r.output.split("\n\n", 1)[1] == here.output.split("\n\n", 1)[1]  # the log lines
    assert _findings(r) == _findings(here)
    assert ps.ok and ps.output.splitlines()[0] == ps_here.output.splitlines()[0]
    rows = [line.split(None, 10) for line in ps.output.splitlines()[1:]]
    rows_here = [line.split(None, 10) for line in ps_here.output.splitlines()[1:]]
    assert [(x[0], x[1], x[10]) for x in rows] == [(x[0], x[1], x[10]) for x in rows_here]
    assert {x[1] for x in rows} == {str(proc.pid)}
    r, here = [await run_tool(t, "service_status", {"service": name}) for t in (target, local)]
    assert not r.ok and r.exit_code == 3 and "Active: inactive (dead)" in r.output
    assert r.output.split("\n", 1)[1] == here.output.split("\n", 1)[1]
    assert _findings(r) == _findings(here) and _findings(r), _findings(r)  # down, and why: the port is taken
    r = await run_tool(target, "service_status", {"service": f"no-such-{uuid.uuid4().hex[:6]}"})
    assert r.exit_code == 4 and "could not be found." in r.output


FD_HOLDER = (
    "import resource, socket, sys, time; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 128)); "
    "keep = [socket.socket() for _ in range(3)] + [open('/dev/null') for _ in range(2)]; "
    "print('ready', flush=True); time.sleep(60)"
)


async def test_open_files_reads_the_same_proc_files_as_local(target, local, sshd):
    proc = _spawn_as(sshd, [sshd.python, "-c", FD_HOLDER])
    try:
        assert proc.stdout.readline().strip() == "ready"
        r = await run_tool(target, "open_files", {"pid": proc.pid})
        here = await run_tool(local, "open_files", {"pid": proc.pid})
        theirs = await run_tool(
            target, "open_files", {"pid": os.getpid()}
        )  # root's process, read as the login user
    finally:
        _stop(proc)
    assert r.ok and r.exit_code == 0, r
    (facts,) = r.data["processes"]
    assert (facts["soft_limit"], facts["hard_limit"]) == (64, 128)
    assert facts["kinds"]["socket"] >= 3 and facts["kinds"]["file"] >= 2
    assert facts == here.data["processes"][0]  # pid, name, count, limits and kinds alike
    assert r.output == here.output
    assert r.data["ssh"]["argv"][-1][:2] == ["find", f"/proc/{proc.pid}/fd"]
    if os.geteuid() == 0 and sshd.user != "root":
        assert not theirs.ok and "was denied" in (theirs.error or theirs.output), theirs


async def test_log_tail_reads_only_inside_the_roots(target, sshd, tmp_path):
    lines = [
        f"2024-11-23T03:12:{i % 60:02d} {'ERROR' if i % 7 == 0 else 'INFO'} request {i}" for i in range(500)
    ]
    (sshd.logs / "app.log").write_text("\n".join(lines) + "\n")
    r = await run_tool(target, "log_tail", {"source": "app.log", "lines": 5})
    assert r.ok and r.output.splitlines() == lines[-5:] and r.source == "ssh:file"
    assert r.command == f"tail -n 5 -- {sshd.logs / 'app.log'}"
    assert r.data["file_size"] == (sshd.logs / "app.log").stat().st_size
    r = await run_tool(target, "log_tail", {"source": "app.log", "lines": 30, "grep": r"ERROR request \d+"})
    assert r.output.splitlines() == [x for x in lines[-30:] if "ERROR" in x] and r.data["lines_read"] == 30
    r = await run_tool(target, "log_tail", {"source": "app.log", "lines": 3, "grep": "no-such-text"})
    assert r.ok and r.exit_code == 1 and "no line among the last 3" in r.output

    (sshd.logs / "escape.log").symlink_to("/etc/passwd")
    for source, reason in [
        ("/etc/passwd", "outside the allowed log roots"),
        ("escape.log", "outside the allowed"),
        ("../sshd_config", "'..' is not allowed"),
        ("nope.log", "no such log file"),
    ]:
        r = await run_tool(target, "log_tail", {"source": source})
        assert not r.ok and reason in r.error and r.exit_code is None, (source, r)
    r = await run_tool(target, "log_tail", {"source": "unit:nginx"})
    assert not r.ok and "no journal on 127.0.0.1" in r.error
    r = await run_tool(target, "log_tail", {"source": "pod:default/web-1"})
    assert not r.ok and "kubernetes" in r.error


async def test_host_resources_disk_usage_and_dns_match_local(target, local, sshd):
    r, here = await run_tool(target, "host_resources", {}), await run_tool(local, "host_resources", {})
    assert r.ok and r.output.splitlines()[0].startswith(" ") and "load average: " in r.output
    mem = next(x for x in r.output.splitlines() if x.startswith("Mem:"))
    assert int(mem.split()[1]) == psutil.virtual_memory().total // 2**20
    assert f"CPU(s): {psutil.cpu_count()}" in r.output and "%Cpu(s):" in r.output
    assert [x.split(":")[0] for x in r.output.splitlines()] == [
        x.split(":")[0] for x in here.output.splitlines()
    ]

    r, here = [await run_tool(t, "disk_usage", {"path": str(sshd.logs)}) for t in (target, local)]
    assert r.ok and r.output.splitlines()[0] == here.output.splitlines()[0]
    for key in ("filesystem", "size", "inodes_total", "mounted_on"):
        assert r.data[key] == here.data[key], key
    r = await run_tool(target, "disk_usage", {"path": str(sshd.logs / "missing")})
    assert not r.ok and "No such file or directory" in r.error

    r = await run_tool(target, "dns_lookup", {"name": "localhost"})
    assert r.ok and "localhost has address 127.0.0.1" in r.output and r.command == "getent ahosts localhost"
    r = await run_tool(target, "dns_lookup", {"name": f"fl-{uuid.uuid4().hex[:8]}.invalid"})
    assert not r.ok and "not found: 3(NXDOMAIN)" in r.output


async def test_probes_from_firstline_are_not_reported_and_one_connection_is_reused(target, sshd):
    for _ in range(3):
        r = await run_tool(target, "process_list", {"match": f"sshd: {sshd.user}"})
        assert r.ok
    sessions = [x for x in r.output.splitlines()[1:] if f"sshd: {sshd.user}@notty" in x]
    assert len(sessions) == 1, r.output  # three calls, one SSH connection
    everything = await run_tool(target, "process_list", {})
    assert "ps -e -ww -o" not in everything.output  # the listing's own ps is left out
    sshd_status = await run_tool(target, "service_status", {"service": "sshd"})
    assert f"sshd: {sshd.user}@notty" in sshd_status.output and "ps -e -ww -o" not in sshd_status.output


async def test_http_and_tls_tools_are_not_offered_over_ssh(target):
    assert not target.supports("http_check") and not target.supports("tls_certificate")
    r = await run_tool(target, "http_check", {"url": "http://127.0.0.1/"})
    assert not r.ok and r.status == "unsupported" and "not available on target ssh:" in r.error


# ---------------------------------------------------------------- quoting is the safety boundary


async def test_hostile_arguments_arrive_as_one_literal_word(target, sshd):
    pwned = f"fl-pwned-{uuid.uuid4().hex[:8]}"  # a shell that ran any of these would create it in its home
    hostile = [
        f"a;touch {pwned}.log",
        f"$(touch {pwned}).log",
        f"`touch {pwned}`.log",
        f"x' ; touch {pwned} ; echo '.log",
        f'q" && touch {pwned} && "q.log',
        "-n 1 --help.log",
        "two words  and\ttab.log",
    ]
    for i, name in enumerate(hostile):
        (sshd.logs / name).write_text(f"literal file {i}\n")
        r = await run_tool(target, "log_tail", {"source": name})
        assert r.ok and r.output == f"literal file {i}\n", (name, r)
    r = await run_tool(target, "disk_usage", {"path": f"/nonexistent\n$(touch {pwned})"})
    assert (
        not r.ok and f"df: '/nonexistent'$'\\n''$(touch {pwned})': No such file" in r.error
    )  # one word, newline kept
    r = await run_tool(target, "disk_usage", {"path": "/tmp\x00/etc"})
    assert not r.ok and "NUL" in r.error
    refused = [
        ("service_status", {"service": "nginx;reboot"}),
        ("service_status", {"service": "$(id)"}),
        ("restart_service", {"service": f"x && touch {pwned}"}),
        ("log_tail", {"source": f"unit:nginx; touch {pwned}"}),
        ("log_tail", {"source": "app.log\nreboot"}),
        ("dns_lookup", {"name": f"a.com;touch {pwned}"}),
    ]
    for name, args in refused:
        r = await run_tool(target, name, args, approved=True)
        assert not r.ok and r.exit_code is None and r.error, (name, args)
    r = await run_tool(target, "process_list", {"match": f"; touch {pwned}"})
    assert r.ok and r.data["count"] == 0
    assert not list(Path(sshd.home).glob(f"{pwned}*")) and not list(sshd.logs.glob(f"{pwned}*"))
    assert not list(Path("/").glob(f"{pwned}*"))


# ---------------------------------------------------------------- host keys: known_hosts only


async def test_unknown_host_key_is_refused_with_its_fingerprint(sshd, tmp_path):
    other = tmp_path / "known_hosts"
    other.write_text(f"[127.0.0.1]:{sshd.port + 1} {sshd.host_key_line.rsplit(' ', 1)[0]}\n")
    for known in (other, tmp_path / "missing"):
        t = open_target(sshd.target, _config(sshd, known_hosts=known))
        r = await run_tool(t, "host_resources", {})
        await t.aclose()
        assert not r.ok and r.status == "refused" and r.exit_code is None and r.output == ""
        assert "refused: the host key of [127.0.0.1]:" in r.error and "is not in" in r.error
        assert sshd.fingerprint() in r.error and f"ssh-keyscan -p {sshd.port} 127.0.0.1 >> {known}" in r.error
    assert "does not exist" in r.error
    assert not (tmp_path / "missing").exists()  # never written: nothing is trusted on first use


async def test_changed_host_key_is_refused(sshd, tmp_path):
    old = keygen(tmp_path / "old").rsplit(" ", 1)[0]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {old}\n")
    t = open_target(sshd.target, _config(sshd, known_hosts=known))
    r = await run_tool(t, "service_status", {"service": "sshd"})
    await t.aclose()
    assert not r.ok and r.status == "refused" and "has CHANGED" in r.error and sshd.fingerprint() in r.error
    assert f"ssh-keygen -R '[127.0.0.1]:{sshd.port}' -f {known}" in r.error
    assert known.read_text() == f"[127.0.0.1]:{sshd.port} {old}\n"


async def test_a_key_the_host_does_not_accept_is_a_clear_error(sshd, tmp_path):
    keygen(tmp_path / "stranger")
    t = open_target(sshd.target, _config(sshd, key_file=tmp_path / "stranger"))
    r = await run_tool(t, "host_resources", {})
    await t.aclose()
    assert not r.ok and f"refused to log {sshd.user} in with the key {tmp_path / 'stranger'}" in r.error


def _agent_holding(key: Path, sock: Path) -> subprocess.Popen:
    """A real ssh-agent on `sock` with `key` added."""
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    added = subprocess.run(
        ["ssh-add", "-q", str(key)],
        env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    return agent


async def test_keys_from_a_running_agent(sshd, tmp_path, monkeypatch):
    agent = _agent_holding(sshd.client_key, tmp_path / "agent.sock")
    try:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
        t = open_target(sshd.target, _config(sshd, key_file=None))
        r = await run_tool(t, "disk_usage", {"path": "/"})
        await t.aclose()
        assert r.ok, r
    finally:
        agent.terminate()
        agent.wait(timeout=5)


# ---------------------------------------------------------------- timeouts


async def test_a_hanging_command_ends_as_a_timeout_result(sshd):
    stale = f"/fl-stale-{uuid.uuid4().hex[:6]}"
    nap = f"{37 + int(uuid.uuid4().hex[:4], 16) % 1000 / 1000:.3f}"
    shim = sshd.shim / "df"  # a df that hangs on one path, as on a stale NFS mount
    shim.write_text(
        f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "{stale}" ] && exec sleep {nap}; done\nexec /usr/bin/df "$@"\n'
    )
    shim.chmod(0o755)
    t = open_target(sshd.target, _config(sshd, command_timeout_s=1.5))
    try:
        t0 = time.perf_counter()
        r = await run_tool(t, "disk_usage", {"path": stale})
        elapsed = time.perf_counter() - t0
        assert not r.ok and r.status == "timeout" and "timed out after 1.5s and was stopped" in r.error, r
        assert "127.0.0.1" in r.error and elapsed < 8
        r = await run_tool(t, "disk_usage", {"path": "/"})
        assert r.ok, r  # the same connection still works
    finally:
        await t.aclose()
        shim.unlink()
    await asyncio.sleep(0.5)
    assert not [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", nap]]


async def test_an_unreachable_host_is_a_clear_error(sshd):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once it is closed
    t = open_target(f"ssh:{sshd.user}@127.0.0.1:{port}", _config(sshd))
    r = await run_tool(t, "disk_usage", {"path": "/"})
    await t.aclose()
    assert not r.ok and f"cannot connect to 127.0.0.1 port {port}" in r.error and "refused" in r.error.lower()


async def test_a_dropped_connection_ends_the_call_and_the_next_one_reconnects(sshd):
    stale = f"/fl-stale-{uuid.uuid4().hex[:6]}"
    nap = f"{30 + int(uuid.uuid4().hex[:4], 16) % 1000 / 1000:.3f}"
    shim = sshd.shim / "df"
    shim.write_text(
        f'#!/bin/sh\nfor a in "$@"; do [ "$a" = "{stale}" ] && exec sleep {nap}; done\nexec /usr/bin/df "$@"\n'
    )
    shim.chmod(0o755)
    t = open_target(sshd.target, _config(sshd))
    try:
        call = asyncio.create_task(run_tool(t, "disk_usage", {"path": stale}))
        for _ in range(200):  # until the command hangs on the host (connecting can be slow on a busy machine)
            if any(p.info["cmdline"] == ["sleep", nap] for p in psutil.process_iter(["cmdline"])):
                break
            await asyncio.sleep(0.05)
        sessions = psutil.Process(sshd.proc.pid).children(
            recursive=True
        )  # the connection; the listener stays
        assert sessions and not call.done()
        for p in sessions:
            p.kill()
        t0 = time.perf_counter()
        r = await asyncio.wait_for(call, 10)
        assert not r.ok and r.exit_code is None and "connection failed" in r.error, r
        assert time.perf_counter() - t0 < 5
        r = await run_tool(t, "disk_usage", {"path": "/"})
        assert r.ok, r
    finally:
        await t.aclose()
        shim.unlink()


async def test_concurrent_calls_share_the_connection_and_keep_their_own_argv(target, sshd):
    (sshd.logs / "a.log").write_text("alpha\n")
    results = await asyncio.gather(
        run_tool(target, "log_tail", {"source": "a.log"}),
        run_tool(target, "disk_usage", {"path": "/"}),
        run_tool(target, "dns_lookup", {"name": "localhost"}),
        *(run_tool(target, "disk_usage", {"path": "/tmp"}) for _ in range(15)),
    )
    assert all(r.ok for r in results), [
        r.error for r in results if not r.ok
    ]  # 18 at once; sshd allows 10 channels
    firsts = [{argv[0] for argv in r.data["ssh"]["argv"]} for r in results[:3]]
    assert firsts[0] <= {"realpath", "stat", "tail"} and firsts[1] == {"df"} and firsts[2] == {"getent"}


# ---------------------------------------------------------------- write tools: approval first


async def test_restart_and_kill_need_approval_and_then_run(target, sshd):
    proc = _spawn_as(sshd, ["sleep", "61"])
    try:
        for name, args in [("restart_service", {"service": "fl-web"}), ("kill_process", {"pid": proc.pid})]:
            r = await run_tool(target, name, args)
            assert (
                not r.ok
                and r.status == "needs_approval"
                and "needs a person's approval; it was not run" in r.error
            )
        assert proc.poll() is None
        r = await run_tool(target, "kill_process", {"pid": proc.pid, "signal": "TERM"}, approved=True)
        assert r.ok and f"sent SIGTERM to {proc.pid} (sleep 61)" in r.output and r.data["exited"] is True, r
        assert r.command == f"kill -s TERM -- {proc.pid}" and r.target == sshd.target
        assert proc.wait(timeout=3) == -15
    finally:
        _stop(proc)
    r = await run_tool(target, "kill_process", {"pid": proc.pid}, approved=True)
    assert not r.ok and f"no process with PID {proc.pid} on 127.0.0.1" in r.error
    if sshd.user != "root":
        r = await run_tool(target, "kill_process", {"pid": sshd.proc.pid}, approved=True)  # root's sshd
        assert not r.ok and "refused to signal" in r.error and sshd.proc.poll() is None
    if not (await target.probe())["systemd"]:
        r = await run_tool(target, "restart_service", {"service": "fl-web"}, approved=True)
        assert not r.ok and "without systemd" in r.error and "127.0.0.1" in r.error


# ---------------------------------------------------------------- names


def test_target_names_parse_or_are_refused_clearly():
    cfg = TargetConfig(ssh=SshConfig(user="ops", hosts=["web-1.internal", "deploy@10.0.0.7:2222"]))
    for spec, (host, port, user) in {
        "ssh:web-1": ("web-1", 22, "ops"),
        "ssh:bob@10.0.0.7:2222": ("10.0.0.7", 2222, "bob"),
        "ssh:[::1]:2200": ("::1", 2200, "ops"),
        "ssh:fe80::1": ("fe80::1", 22, "ops"),
    }.items():
        t = open_target(spec, cfg)
        assert isinstance(t, SshTarget) and t.name == spec
        assert (t.address.host, t.address.port, t.link.user) == (host, port, user)
    for spec, why in {
        "ssh:": "not a valid hostname",
        "ssh:h;reboot": "not a valid hostname",
        "ssh:$(id)@h": "not a valid user",
        "ssh:-oProxyCommand=x@h": "not a valid user",
        "ssh:h:0": "port must be",
        "ssh:h:22x": "port must be",
        "ssh:[::1]x": "port must be",
    }.items():
        with pytest.raises(TargetError, match=why):
            open_target(spec, cfg)
    listed = [t["name"] for t in list_targets(cfg) if t["kind"] == "ssh"]
    assert listed == ["ssh:web-1.internal", "ssh:deploy@10.0.0.7:2222"]


# ---------------------------------------------------------------- end to end: the CLI, the offline model, the audit


def _cli_env(sshd: Sshd, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FIRSTLINE_HOME": str(home),
        "FIRSTLINE_MODEL": "firstline/runbook",
        "FIRSTLINE_TARGETS__SSH__KNOWN_HOSTS": str(sshd.known_hosts),
        "FIRSTLINE_TARGETS__SSH__KEY_FILE": str(sshd.client_key),
        "FIRSTLINE_TARGETS__LOG_ROOTS": json.dumps([str(sshd.logs)]),
    }


def _chat(env: dict[str, str], *args: str) -> list[dict]:
    out = subprocess.run(
        ["firstline", "chat", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events and events[-1]["type"] == "turn_finished", out.stderr[-2000:]
    return events


def _of(events: list[dict], kind: str) -> list[dict]:
    return [e["data"] for e in events if e["type"] == kind]


def test_chat_over_ssh_diagnoses_a_port_conflict_then_kills_only_when_approved(sshd, tmp_path):
    squatter = _spawn_as(sshd, [sshd.python, "-c", LISTENER, "legacy-app"])
    env = _cli_env(sshd, tmp_path)
    try:
        port = int(squatter.stdout.readline())
        (sshd.logs / "fl-web.log").write_text(
            f"2026/12/02 03:12:01 [emerg] 812#812: bind() to 0.0.0.0:{port} failed (98: Address already in use)\n"
        )
        first = _chat(env, f"fl-web fails to start: port {port} already in use", "--target", sshd.target)
        assert first[-1]["data"]["status"] == "completed"
        titles = [f["title"] for f in _of(first, "finding")]
        owner = next(
            (f for f in _of(first, "finding") if f["title"].startswith(f"port {port} is held by python3")),
            None,
        )
        assert owner is not None, (titles, [(c["tool"], c["args"]) for c in _of(first, "tool_call")])
        assert f"pid {squatter.pid}" in owner["title"] and "legacy-app" in owner["title"]
        answer = _of(first, "message")[-1]["text"]
        assert "legacy-app" in answer and str(port) in answer
        sid = first[0]["session_id"]

        denied = _chat(env, "--session", sid, f"kill {squatter.pid}")  # no terminal to ask: denied
        assert [d["decision"] for d in _of(denied, "approval_decided")] == ["deny"]
        assert not any(r["tool"] == "kill_process" and r["ok"] for r in _of(denied, "tool_result"))
        assert squatter.poll() is None

        approved = _chat(env, "--session", sid, f"kill {squatter.pid}", "--approve-all")
        assert [d["decision"] for d in _of(approved, "approval_decided")] == ["approve"]
        kill = next(r for r in _of(approved, "tool_result") if r["tool"] == "kill_process")
        assert kill["ok"] and kill["command"] == f"kill -s TERM -- {squatter.pid}", kill
        assert squatter.wait(timeout=5) == -15
    finally:
        _stop(squatter)
        (sshd.logs / "fl-web.log").unlink()

    engine = store.open_store(f"sqlite:///{tmp_path / 'firstline.db'}")
    try:
        trail = audit.export(engine)
        assert audit.verify(engine).ok
    finally:
        engine.dispose()
    executed = [e for e in trail if e["kind"] == "tool_execution"]
    ss = next(e for e in executed if e["tool"] == "port_owner")
    assert ss["target"] == sshd.target  # which host
    assert ss["command"].startswith(f"ss -H -ltnp 'sport = :{port}'; ps -p {squatter.pid} ")  # which argv
    assert ss["exit_code"] == 0 and len(ss["output_sha256"]) == 64 and ss["detail"]["source"] == "ssh:ss"
    kills = [e for e in executed if e["tool"] == "kill_process" and e["detail"]["outcome"] == "executed"]
    assert len(kills) == 1 and kills[0]["command"] == f"kill -s TERM -- {squatter.pid}"
    assert kills[0]["target"] == sshd.target and kills[0]["detail"]["approval_status"] == "approved"
    assert {e["target"] for e in executed} == {sshd.target}


def test_tools_run_over_ssh(sshd, tmp_path):
    ran = subprocess.run(
        ["firstline", "tools", "run", "disk_usage", "--target", sshd.target, "--path", "/", "--json"],
        env=_cli_env(sshd, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["target"] == sshd.target and result["output"].startswith("Filesystem ")


async def test_server_lists_ssh_hosts_checks_names_and_runs_a_turn_over_ssh(sshd, tmp_path):
    settings = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'fl.db'}",
        model="firstline/runbook",
        targets=_config(sshd).model_copy(
            update={
                "ssh": SshConfig(
                    known_hosts=sshd.known_hosts,
                    key_file=sshd.client_key,
                    hosts=[f"{sshd.user}@127.0.0.1:{sshd.port}"],
                )
            }
        ),
    )
    app = create_app(settings)
    (sshd.logs / "fl-api.log").write_text(
        "2026/12/02 03:12:01 [emerg] bind() to 0.0.0.0:8080 failed (98: Address already in use)\n"
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as c:
            listed = (await c.get("/api/targets")).json()
            assert {"name": sshd.target, "kind": "ssh"}.items() <= next(
                t for t in listed if t["kind"] == "ssh"
            ).items()
            bad = await c.post("/api/sessions", json={"target": "ssh:web;reboot"})
            assert bad.status_code == 422 and "target" in bad.text
            bad = await c.post("/api/sessions", json={"target": "ssh:-x@h"})
            assert bad.status_code == 422 and "not a valid user name" in bad.text
            sid = (await c.post("/api/sessions", json={"target": sshd.target})).json()["id"]
            r = await c.post(
                f"/api/sessions/{sid}/messages", json={"content": "fl-api is down, please check it"}
            )
            assert r.status_code == 202, r.text
            for _ in range(600):
                if (await c.get(f"/api/sessions/{sid}")).json()["status"] == "idle":
                    break
                await asyncio.sleep(0.05)
            calls = (await c.get(f"/api/sessions/{sid}/tool_calls")).json()
    finally:
        await app.state.runtime.shutdown()
        (sshd.logs / "fl-api.log").unlink()
    status = next(x for x in calls if x["tool"] == "service_status" and x["args"] == {"service": "fl-api"})
    assert status["target"] == sshd.target and status["source"] == "ssh:ps" and status["exit_code"] == 3
    assert "Address already in use" in status["output"] and status["command"] == "systemctl status fl-api"
