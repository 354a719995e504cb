"""`systemctl status` facts for hosts without systemd, found from the process table.

Containers and CI have no systemd, yet engineers still ask "is nginx running?".
A service is the processes whose name, argv[0] (`nginx: master process` counts as
nginx) or interpreted script (`python3 /srv/billing.py` counts as billing) matches,
plus their children; recent lines come from log files named after it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil

from tools.facts import ServiceFacts, ServiceProcess
from tools.host.gather import cmdline_text
from tools.host.logs import LogAccessError, find_named_logs, read_tail

_INTERPRETER = re.compile(r"^(python[0-9.]*|pypy[0-9.]*|node|nodejs|java|ruby|perl|php[0-9.-]*|bash|sh|dash|"
                          r"deno|bun|uwsgi|gunicorn|uvicorn)$")
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


def _matching(key: str) -> dict[int, psutil.Process]:
    me = os.getpid()
    found = {}
    for proc in psutil.process_iter(["name", "cmdline"], ad_value=None):
        if proc.pid != me and key in process_names(proc.info["name"], proc.info["cmdline"]):
            found[proc.pid] = proc
    return found


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


def _tree(roots: list[psutil.Process]) -> list[psutil.Process]:
    members: dict[int, psutil.Process] = {}
    for root in roots:
        members[root.pid] = root
        try:
            members.update({c.pid: c for c in root.children(recursive=True)})
        except psutil.Error:
            pass
    return [members[pid] for pid in sorted(members)]


def _running_facts(key: str, matched: dict[int, psutil.Process]) -> ServiceFacts:
    roots = [p for p in matched.values() if p.ppid() not in matched]
    main = min(roots, key=lambda p: (p.create_time(), p.pid))
    procs, rss, threads, cpu = [], 0, 0, 0.0
    for p in _tree(sorted(roots, key=lambda p: p.pid)):
        try:
            with p.oneshot():
                procs.append(ServiceProcess(pid=p.pid, cmd=cmdline_text(p.cmdline()) or f"[{p.name()}]"))
                rss += p.memory_info().rss
                threads += p.num_threads()
                times = p.cpu_times()
                cpu += times.user + times.system
        except psutil.Error:
            continue
    return ServiceFacts(
        name=key, active="active", sub="running", since=datetime.fromtimestamp(main.create_time(), UTC),
        main_pid=main.pid, main_cmd=main.name(), tasks=threads, memory=format_bytes(rss), cpu=format_cpu(cpu),
        cgroup=_cgroup(main.pid), processes=procs, enabled=None, vendor_preset=None,
    )


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
    """Facts for `service` without systemd; loaded='not-found' when nothing at all points to it."""
    key = service_key(service)
    init_script = Path("/etc/init.d") / key
    matched = _matching(key)
    journal = _log_journal(key, log_roots)
    if matched:
        facts = _running_facts(key, matched)
    elif init_script.exists() or journal:
        facts = ServiceFacts(name=key, active="inactive", sub="dead", enabled=None, vendor_preset=None)
    else:
        return ServiceFacts(name=key, loaded="not-found", active="inactive", sub="dead")
    unit_path = str(init_script) if init_script.exists() else None
    return facts.model_copy(update={"host": hostname, "unit_path": unit_path, "journal": journal})
