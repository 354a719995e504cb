"""`systemctl status` facts for hosts without systemd, found from the process table.

Containers and CI have no systemd, yet engineers still ask "is nginx running?".
A service is the processes whose name, argv[0] (`nginx: master process` counts as
nginx) or interpreted script (`python3 /srv/billing.py` counts as billing) matches,
plus their children; recent lines come from log files named after it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from tools.facts import ServiceFacts, ServiceProcess
from tools.host.gather import cmdline_text
from tools.host.logs import LogAccessError, find_named_logs, read_tail

_INTERPRETER = re.compile(
    r"^(python[0-9.]*|pypy[0-9.]*|node|nodejs|java|ruby|perl|php[0-9.-]*|bash|sh|dash|"
    r"deno|bun|uwsgi|gunicorn|uvicorn)$"
)
JOURNAL_LINES = 10


def service_key(service: str) -> str:
    return service.removesuffix(".service").lower()


def _stem(path: str) -> str:
    base = os.path.basename(path.rstrip("/"))
    return base.split(".", 1)[0] if "." in base else base


def process_names(name: str | None, cmdline: Sequence[str] | None) -> set[str]:
    """The names a process answers to: comm, argv[0] (before a `:` title) and an interpreted script."""
    names = {name or ""}
    argv = list(cmdline or [])
    if argv and argv[0]:
        title = argv[0].split(":", 1)[0].strip()
        first = title.split()[0] if title else argv[0]
        names |= {os.path.basename(first), _stem(first)}
        if _INTERPRETER.match(os.path.basename(first)):
            script = next((a for a in argv[1:] if a and not a.startswith("-")), "")
            names |= {os.path.basename(script), _stem(script)}
    return {n.lower() for n in names if n}


@dataclass
class Member:
    """One process of a service, however it was observed (psutil here, `ps` over SSH)."""

    pid: int
    cmd: str
    name: str
    started: datetime | None
    rss: int
    threads: int
    cpu_s: float


def matching_pids(key: str, table: Iterable[tuple[int, str | None, Sequence[str] | None]]) -> set[int]:
    """PIDs among (pid, name, argv) rows whose names include `key`."""
    return {pid for pid, name, argv in table if key in process_names(name, argv)}


def service_tree(matched: set[int], parents: Mapping[int, int | None]) -> tuple[list[int], list[int]]:
    """(roots, members): matched processes whose parent is not matched, and those plus all descendants."""
    roots = sorted(pid for pid in matched if parents.get(pid) not in matched)
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        if ppid is not None:
            children.setdefault(ppid, []).append(pid)
    members, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    return roots, sorted(members)


def main_member(roots: Sequence[Member]) -> Member:
    """The service's main process: the oldest of its roots (lowest PID on a tie or an unknown start)."""
    latest = datetime.max.replace(tzinfo=UTC)
    return min(roots, key=lambda m: (m.started or latest, m.pid))


def running_facts(key: str, main: Member, members: Sequence[Member], cgroup: str | None) -> ServiceFacts:
    """`active (running)` facts: the main process, and the totals systemd would show for the cgroup."""
    return ServiceFacts(
        name=key,
        active="active",
        sub="running",
        since=main.started,
        main_pid=main.pid,
        main_cmd=main.name,
        tasks=sum(m.threads for m in members),
        memory=format_bytes(sum(m.rss for m in members)),
        cpu=format_cpu(sum(m.cpu_s for m in members)),
        cgroup=cgroup,
        processes=[ServiceProcess(pid=m.pid, cmd=m.cmd) for m in members],
        enabled=None,
        vendor_preset=None,
    )


def idle_facts(key: str, *, known: bool) -> ServiceFacts:
    """Nothing running: `inactive (dead)` when an init script or logs point to it, else `not-found`."""
    if known:
        return ServiceFacts(name=key, active="inactive", sub="dead", enabled=None, vendor_preset=None)
    return ServiceFacts(name=key, loaded="not-found", active="inactive", sub="dead")


def format_bytes(n: int) -> str:
    """systemd's format_bytes: `12.3M`, `1.0G`, `704.0K`, `512B` (truncated, not rounded)."""
    for power, suffix in ((5, "P"), (4, "T"), (3, "G"), (2, "M"), (1, "K")):
        factor = 1024**power
        if n >= factor:
            return f"{n // factor}.{n * 10 // factor % 10}{suffix}"
    return f"{n}B"


def format_cpu(seconds: float) -> str:
    """systemd's timespan at ms accuracy: `23ms`, `1.234s`, `2min 3.5s`."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}min {text}" if minutes else text


def _cgroup(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text().splitlines()[-1].split(":", 2)[2] or None
    except (OSError, IndexError):
        return None


def _member(pid: int) -> Member | None:
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            times = p.cpu_times()
            return Member(
                pid=pid,
                cmd=cmdline_text(p.cmdline()) or f"[{p.name()}]",
                name=p.name(),
                started=datetime.fromtimestamp(p.create_time(), UTC),
                rss=p.memory_info().rss,
                threads=p.num_threads(),
                cpu_s=times.user + times.system,
            )
    except psutil.Error:
        return None


def _local_running(key: str) -> ServiceFacts | None:
    me = os.getpid()
    parents: dict[int, int | None] = {}
    table = []
    for proc in psutil.process_iter(["ppid", "name", "cmdline"], ad_value=None):
        parents[proc.pid] = proc.info["ppid"]
        if proc.pid != me:
            table.append((proc.pid, proc.info["name"], proc.info["cmdline"]))
    matched = matching_pids(key, table)
    if not matched:
        return None
    roots, pids = service_tree(matched, parents)
    members = {m.pid: m for pid in pids if (m := _member(pid)) is not None}
    live_roots = [members[r] for r in roots if r in members]
    if not live_roots:
        return None
    main = main_member(live_roots)
    return running_facts(key, main, list(members.values()), _cgroup(main.pid))


def _log_journal(key: str, roots: Sequence[Path]) -> list[str]:
    """Last lines of logs named after the service, `tail` style with `==> path <==` headers."""
    lines = []
    for path in find_named_logs(key, roots, limit=2):
        try:
            tail = read_tail(path, roots, JOURNAL_LINES)
        except (LogAccessError, OSError):
            continue
        lines += [f"==> {path} <==", *tail.lines]
    return lines


def service_facts_from_processes(service: str, log_roots: Sequence[Path], hostname: str) -> ServiceFacts:
    """Facts for `service` on this host without systemd; loaded='not-found' when nothing at all points to it."""
    key = service_key(service)
    init_script = Path("/etc/init.d") / key
    journal = _log_journal(key, log_roots)
    facts = _local_running(key) or idle_facts(key, known=init_script.exists() or bool(journal))
    if facts.loaded == "not-found":
        return facts
    unit_path = str(init_script) if init_script.exists() else None
    return facts.model_copy(update={"host": hostname, "unit_path": unit_path, "journal": journal})
