"""open_files: real descriptors of a real process under a lowered RLIMIT_NOFILE, the sandbox scenario, and
arguments refused before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import psutil
import pytest

from tools.commands import command_line
from tools.runner import run_tool
from tools.targets import open_target

SOFT, FREED = 64, 3
CHILD = textwrap.dedent(
    """
    import os, resource, socket, sys
    name, tmp = sys.argv[1], sys.argv[2]
    with open("/proc/self/comm", "w") as fh:
        fh.write(name)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, hard))
    held = [*socket.socketpair(), *os.pipe()]
    error = ""
    for n in range(10_000):
        try:
            held.append(open(os.path.join(tmp, f"f{{n}}"), "w"))
        except OSError as exc:
            error = exc.strerror
            break
    for fh in held[-{freed}:]:
        fh.close()
    count = len(os.listdir("/proc/self/fd")) - 1  # listdir's own descriptor
    print(error, count, hard, sep="|", flush=True)
    sys.stdin.read()
    """
).format(soft=SOFT, freed=FREED)


@pytest.fixture
def child(tmp_path):
    """A python process near its descriptor limit: (pid, name, errno text it hit, fds it counted, hard limit)."""
    name = f"fl-fd-{os.getpid() % 100000}"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, name, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        error, count, hard = proc.stdout.readline().strip().split("|")
        yield proc.pid, name, error, int(count), int(hard)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


async def test_a_process_near_its_limit_on_this_host(child):
    pid, name, error, count, hard = child
    assert error == "Too many open files"  # the child really hit EMFILE before freeing a few
    result = await run_tool(open_target("local"), "open_files", {"pid": pid})
    assert result.ok and result.status == "ok", result.error
    facts = result.data["processes"][0]
    assert facts["pid"] == pid and facts["name"] == name
    assert facts["soft_limit"] == SOFT and facts["hard_limit"] == (None if hard == -1 else hard)
    assert facts["open"] == count == SOFT - FREED
    assert facts["kinds"]["socket"] == 2 and facts["kinds"]["pipe"] >= 4  # the os.pipe() and stdin/stdout
    assert facts["kinds"]["file"] >= SOFT - 12
    assert sum(facts["kinds"].values()) == count
    assert facts["use_percent"] == pytest.approx(100 * count / SOFT)
    row = next(line.split() for line in result.output.splitlines() if line.split()[:1] == [str(pid)])
    assert row[1:4] == [name, str(count), str(SOFT)] and row[5] == f"{100 * count / SOFT:.1f}%"
    assert f"# {pid} {name} is at {100 * count / SOFT:.1f}% of its soft limit" in result.output
    assert result.command == f"grep 'Max open files' /proc/{pid}/limits; ls -l /proc/{pid}/fd"


async def test_by_name_finds_the_process_and_counts_what_proc_counts(child):
    pid, name, _, count, _ = child
    result = await run_tool(open_target("local"), "open_files", {"process": name})
    assert result.ok, result.error
    assert [p["pid"] for p in result.data["processes"]] == [pid]
    assert result.data["processes"][0]["open"] == len(os.listdir(f"/proc/{pid}/fd")) == count
    assert result.command.startswith(f"for p in $(pgrep -x {name}); do ")


async def test_an_ordinary_process_is_far_from_its_limit():
    result = await run_tool(open_target("local"), "open_files", {"pid": os.getpid()})
    facts = result.data["processes"][0]
    assert result.ok and abs(facts["open"] - psutil.Process().num_fds()) <= 3  # the scan's own, at most
    assert "soft limit" not in result.output


async def test_no_such_process_exits_1_like_pgrep():
    local = open_target("local")
    by_name = await run_tool(local, "open_files", {"process": "no-such-proc-xyz"})
    assert not by_name.ok and by_name.status == "error" and by_name.exit_code == 1
    assert by_name.output == "# no process is named 'no-such-proc-xyz'\n"
    by_pid = await run_tool(local, "open_files", {"pid": 4_000_000})
    assert by_pid.output == "# no process is running with PID 4000000\n"


def _unreadable_pid() -> int | None:
    for proc in psutil.process_iter(["pid"]):
        try:
            os.listdir(f"/proc/{proc.info['pid']}/fd")
        except PermissionError:
            return proc.info["pid"]
        except OSError:
            continue
    return None


async def test_a_process_whose_descriptors_we_may_not_read_is_refused_with_the_reason():
    pid = _unreadable_pid()
    if pid is None:
        pytest.skip("every process's /proc/PID/fd is readable here")
    result = await run_tool(open_target("local"), "open_files", {"pid": pid})
    assert not result.ok and result.status == "error"
    assert f"reading /proc/PID/fd of PID {pid} was denied" in result.error


def _pid_with_unreadable_links() -> int | None:
    for proc in psutil.process_iter(["pid"]):
        fd_dir = f"/proc/{proc.info['pid']}/fd"
        try:
            first = os.listdir(fd_dir)[:1]
            if first:
                os.readlink(f"{fd_dir}/{first[0]}")
        except PermissionError:
            if first:
                return proc.info["pid"]
        except OSError:
            continue
    return None


async def test_descriptors_we_may_count_but_not_resolve_are_counted_as_unknown():
    pid = _pid_with_unreadable_links()
    if pid is None:
        pytest.skip("every process's descriptors resolve here")
    result = await run_tool(open_target("local"), "open_files", {"pid": pid})
    assert result.ok, result.error
    facts = result.data["processes"][0]
    assert facts["open"] > 0 and facts["kinds"].get("unknown", 0) > 0 and facts["soft_limit"] is not None


@pytest.mark.parametrize(
    "args,reason",
    [
        ({}, "give exactly one of `pid` or `process`"),
        ({"pid": 1, "process": "nginx"}, "give exactly one of `pid` or `process`"),
        ({"process": "nginx; rm -rf /"}, "process: a process name"),
        ({"process": "../bin/sh"}, "process: a process name"),
        ({"pid": 0}, "pid: Input should be greater than or equal to 1"),
        ({"pid": 5_000_000}, "pid: Input should be less than or equal to 4194304"),
        ({"pid": "812abc"}, "pid: Input should be a valid integer"),
        ({"pid": 812, "fd": 3}, "fd: Extra inputs are not permitted"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_runs(args, reason):
    result = await run_tool(open_target("local"), "open_files", args)
    assert result.status == "refused" and result.output == "" and result.command == ""
    assert reason in result.error


async def test_the_sandbox_scenario_shows_the_process_at_its_limit_until_a_restart():
    target = open_target("sandbox:fd-exhaustion")
    result = await run_tool(target, "open_files", {"process": "orders-api"})
    assert result.ok and result.source == "sandbox"
    assert result.output.splitlines()[:3] == [
        " PID  COMMAND     OPEN  SOFT    HARD    USE%",
        "2231  orders-api  1024  1024  524288  100.0%",
        "fds of 2231: socket 1011, file 9, anon 2, pipe 2",
    ]
    assert "# 2231 orders-api is at 100.0% of its soft limit: each new socket" in result.output
    log = await run_tool(target, "log_tail", {"source": "/var/log/orders-api/app.log", "grep": "Errno 24"})
    assert log.output.count("Too many open files") == 4
    assert (await run_tool(target, "restart_service", {"service": "orders-api"}, approved=True)).ok
    after = await run_tool(target, "open_files", {"process": "orders-api"})
    facts = after.data["processes"][0]
    assert facts["pid"] != 2231 and facts["open"] < 10 and "soft limit" not in after.output
    fresh = open_target("sandbox:fd-exhaustion")  # the session's restart never leaks into another
    assert (await run_tool(fresh, "open_files", {"pid": 2231})).data["processes"][0]["open"] == 1024


async def test_a_cluster_only_sandbox_does_not_offer_it():
    result = await run_tool(open_target("sandbox:oom-killed"), "open_files", {"pid": 812})
    assert result.status == "unsupported" and "not available" in result.error


def test_the_command_shown_before_it_runs():
    assert command_line("open_files", {"pid": 812}) == (
        "grep 'Max open files' /proc/812/limits; ls -l /proc/812/fd"
    )
    assert command_line("open_files", {"process": "nginx", "host": "web-1"}).startswith(
        "for p in $(pgrep -x nginx); do grep 'Max open files' /proc/$p/limits"
    )


async def test_a_process_at_its_limit_is_one_fd_exhausted_finding_quoting_its_row(child):
    from assistant.findings import analyze

    pid, _, _, count, _ = child
    real = await run_tool(open_target("local"), "open_files", {"pid": pid})
    [found] = analyze(real, "c1")
    assert found.signature == "fd-exhausted" and found.facts["pid"] == pid and found.facts["open"] == count
    assert found.facts["soft_limit"] == SOFT and found.severity == "high"  # 95%: near, not at, the limit
    row = next(line for line in real.output.splitlines() if line.split()[:1] == [str(pid)])
    assert found.evidence[0].lines[0] == row and all(q in real.output for q in found.evidence[0].lines)

    sandbox = open_target("sandbox:fd-exhaustion")
    at_limit = await run_tool(sandbox, "open_files", {"process": "orders-api"})
    [full] = analyze(at_limit, "c2")
    assert full.severity == "critical" and full.facts["process"] == "orders-api"
    assert (
        full.title
        == "orders-api (PID 2231) holds 1024 of its 1024 allowed open files (100.0%), mostly sockets (1011)"
    )
    assert full.evidence[0].lines[:2] == [
        "2231  orders-api  1024  1024  524288  100.0%",
        "fds of 2231: socket 1011, file 9, anon 2, pipe 2",
    ]
    healthy = await run_tool(sandbox, "open_files", {"process": "nginx"})
    assert analyze(healthy, "c3") == []
