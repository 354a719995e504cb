"""Host resources running out: full filesystems (space or inodes), ENOSPC, the kernel's OOM killer."""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, call, make_finding
from assistant.findings.host_text import amount, parse_df, parse_free

_DU_ROW = re.compile(
    r"(?:^|[\s,:])(?P<size>\d+(?:[.,]\d+)?[KMGTP]?)\s+(?P<path>/[\w./@-]{1,1024})(?=\s*(?:,|$))"
)
_ABS_PATH = re.compile(r"(?<![\w./@-])(/(?:var|srv|data|home|tmp|mnt)/[\w./@-]{1,1024})")
SYSLOG_CHECK = {"source": "/var/log/syslog", "grep": "No space left on device|[0-9][KMGT]\\s+/", "lines": 200}
_ENOSPC = re.compile(
    r"No space left on device|ENOSPC|\[Errno 28\]|could not extend file|disk is full", re.IGNORECASE
)
_ENOSPC_PATH = re.compile(
    r"(?:'|\")(?P<p1>/[^'\"]+)(?:'|\")|(?<![\w./@-])(?P<p2>/[\w./@-]{1,1024}):? No space left"
)
_OOM = [
    re.compile(
        r"(?:Out of memory|Memory cgroup out of memory): Killed process (?P<pid>\d+) \((?P<proc>[^)]+)\)"
    ),
    re.compile(r"oom-kill:.*?task=(?P<proc>[^,]+),pid=(?P<pid>\d+)"),
    re.compile(
        r"(?<![\w.@-])(?P<unit>[\w.@-]{1,128})\.service: (?:A process of this unit has been killed by the OOM killer|"
        r"Failed with result 'oom-kill')"
    ),
]
_CGROUP_LIMIT = re.compile(r"Memory: \S+ \((?:[^)]*?)max: ([\d.]+\w?)|MemoryMax=([\d.]+\w?)")
_SIZE = {"K": 1, "M": 2**10, "G": 2**20, "T": 2**30, "P": 2**40}


def _kib(size: str) -> float:
    unit = size[-1] if size[-1] in _SIZE else "K"
    return float(size.rstrip("KMGTP").replace(",", ".")) * _SIZE[unit]


@analyzer
def filesystem_full(obs: Observation) -> list[Finding]:
    """`df -h` / `df -i` rows at 95% or more (90% is worth a warning), with the biggest `du` entries if shown."""
    out = []
    du = _du(obs)
    for row in parse_df(obs.output):
        if row.percent is None or row.percent < 90:
            continue
        pct, mount, inodes, ln = row.percent, row.mount, row.inodes, row.line
        big = [d for d in du if d[1].startswith(mount.rstrip("/") + "/") or mount == "/"][:3]
        what = "inodes" if inodes else "space"
        out.append(
            make_finding(
                obs,
                "disk-full",
                f"{mount} is {pct}% full ({what})" + (f"; largest: {big[0][1]} ({big[0][0]})" if big else ""),
                [*([row.device_line] if row.device_line else []), ln, *(d[2] for d in big)],
                {
                    "mount": mount,
                    "use_percent": pct,
                    "kind": what,
                    "device": row.device,
                    "largest": [d[1] for d in big] or None,
                },
                severity="critical" if pct >= 98 else "high" if pct >= 95 else "medium",
                confidence=0.95,
                next_checks=[] if big or pct < 95 else [call("log_tail", **SYSLOG_CHECK)],
                remediation=f"Free {what} on {mount}"
                + (
                    f" (start with {big[0][1]}, {big[0][0]})"
                    if big
                    else " (find the largest files/directories)"
                )
                + ", then restart the services that failed writing (restart_service, needs approval).",
            )
        )
    return out


def _du(obs: Observation) -> list[tuple[str, str, str]]:
    """(size, path, line) of `du`-style lines (also inside syslog lines), largest first."""
    found: dict[str, tuple[str, str, str]] = {}
    for ln in obs.lines:  # later reports of the same path replace earlier ones
        for m in _DU_ROW.finditer(ln.strip()):
            if m.group("size")[-1] in _SIZE:
                found[m.group("path")] = (m.group("size"), m.group("path"), ln.strip())
    return sorted(found.values(), key=lambda t: -_kib(t[0]))


@analyzer
def largest_on_full_disk(obs: Observation) -> list[Finding]:
    """After a full filesystem was seen: the biggest files reported on it (du lines, disk-watch reports)."""
    full = [f for f in obs.prior_of("disk-full") if f.facts.get("mount") and not f.facts.get("path")]
    if not full or obs.tool == "disk_usage":
        return []
    out = []
    for f in full:
        mount = str(f.facts["mount"])
        big = [d for d in _du(obs) if mount == "/" or d[1].startswith(mount.rstrip("/") + "/")]
        big = [d for d in big if _kib(d[0]) >= 2**20]  # at least 1G
        if not big:
            continue
        size, path, line = big[0]
        out.append(
            make_finding(
                obs,
                "disk-full",
                f"{path} takes {size} on the full {mount}",
                [line, *(d[2] for d in big[1:3])],
                {
                    "mount": mount,
                    "path": path,
                    "size": size,
                    "use_percent": f.facts.get("use_percent"),
                    "largest": [d[1] for d in big[:3]],
                },
                severity="critical",
                confidence=0.96,
                next_checks=[call("process_list", match=path.rsplit("/", 1)[-1].split(".")[0])],
                remediation=f"Truncate or rotate {path} (by hand: Firstline has no tool that deletes files), stop "
                "whatever writes it so fast, then restart the services that failed writing (restart_service, "
                "needs approval).",
            )
        )
    return out


@analyzer
def no_space_errors(obs: Observation) -> list[Finding]:
    """Applications failing writes with ENOSPC / `No space left on device`."""
    if not obs.mentions("no space", "enospc", "errno 28", "could not extend", "disk is full"):
        return []
    lines = obs.grep(_ENOSPC)
    if not lines:
        return []
    path = next((m.group("p1") or m.group("p2") for ln in lines if (m := _ENOSPC_PATH.search(ln))), None)
    nearby = next((m.group(1) for ln in obs.lines if (m := _ABS_PATH.search(ln))), None)
    probe = (path.rsplit("/", 1)[0] or "/") if path else (nearby or "/")
    return [
        make_finding(
            obs,
            "disk-full",
            f"writes fail with No space left on device{f' ({path})' if path else ''}",
            lines,
            {"mount": None, "path": path, "count": len(lines)},
            severity="critical",
            confidence=0.85,
            next_checks=[call("disk_usage", path=probe)],
        )
    ]


@analyzer
def kernel_oom(obs: Observation) -> list[Finding]:
    """The kernel OOM killer (or systemd reporting it) killed a process on a host."""
    hits = []
    for ln in obs.lines:
        for rx in _OOM:
            m = rx.search(ln)
            if m:
                hits.append((ln.strip(), m.groupdict()))
                break
    if not hits:
        return []
    proc = next((g.get("proc") for _, g in hits if g.get("proc")), None)
    unit = next((g.get("unit") for _, g in hits if g.get("unit")), None)
    pid = next((g.get("pid") for _, g in hits if g.get("pid")), None)
    who = proc or unit or "a process"
    limit = next((m.group(1) or m.group(2) for ln in obs.lines if (m := _CGROUP_LIMIT.search(ln))), None)
    cgroup = bool(limit) or bool(obs.grep(r"Memory cgroup out of memory|oom_memcg=|memory\.max"))
    if cgroup:
        hits.extend((ln.strip(), {}) for ln in obs.lines if _CGROUP_LIMIT.search(ln))
    return [
        make_finding(
            obs,
            "oom-killed",
            f"the OOM killer killed {who}"
            + (f" (pid {pid})" if pid else "")
            + (
                f" at its cgroup memory limit (max {limit})"
                if limit
                else " at its cgroup memory limit"
                if cgroup
                else ""
            ),
            [h[0] for h in hits],
            {
                "process": who,
                "pid": int(pid) if pid else None,
                "unit": unit,
                "memory_limit": limit,
                "cgroup": cgroup or None,
            },
            severity="critical",
            confidence=0.9,
            next_checks=[call("host_resources"), call("process_list")],
            fixes=[call("restart_service", service=unit)] if unit else [],
            remediation=f"Find why {who} grows (or give it more memory), then "
            + (call("restart_service", service=unit) if unit else "restart it")
            + " (needs approval).",
        )
    ]


_EMFILE = re.compile(
    r"Too many open files|EMFILE|ENFILE|\(24: Too many open files\)|file descriptor limit", re.IGNORECASE
)
_TASKS = re.compile(
    r"fork: (?:retry: )?Resource temporarily unavailable|can't fork|cannot fork|"
    r"pthread_create failed|unable to create (?:new native )?thread|Failed to fork",
    re.IGNORECASE,
)
_TASKS_ROW = re.compile(r"^\s*Tasks:\s+(?P<n>\d+) \(limit: (?P<limit>\d+)\)")
_LOAD = re.compile(r"load average: (?P<one>[\d.]+), (?P<five>[\d.]+), (?P<fifteen>[\d.]+)")
_CPUS = re.compile(r"^CPU\(s\):\s+(\d+)", re.MULTILINE)


@analyzer
def open_files_exhausted(obs: Observation) -> list[Finding]:
    """A process hit its file-descriptor limit (`Too many open files`, EMFILE)."""
    lines = obs.grep(_EMFILE)
    if not lines:
        return []
    source = str(obs.args.get("source") or "")
    unit = obs.args.get("service") or (source.removeprefix("unit:") if source.startswith("unit:") else None)
    proc = unit or obs.args.get("pod") or source or "a process"
    return [
        make_finding(
            obs,
            "fd-exhausted",
            f"{proc} ran out of file descriptors (Too many open files, {len(lines)}×)",
            [lines[0], lines[-1]],
            {"process": str(proc), "count": len(lines), "unit": unit},
            severity="critical",
            confidence=0.9,
            remediation="Raise the process's open-files limit (LimitNOFILE= for a unit, ulimit -n) and look for a "
            "descriptor leak (connections or files never closed), then restart it (restart_service, needs approval).",
        )
    ]


@analyzer
def tasks_exhausted(obs: Observation) -> list[Finding]:
    """Processes/threads at their limit: fork failures, or a unit's `Tasks: N (limit: N)` at the limit."""
    lines = obs.grep(_TASKS)
    full = [
        ln.strip()
        for ln in obs.lines
        if (m := _TASKS_ROW.match(ln)) and int(m.group("n")) >= 0.95 * int(m.group("limit"))
    ]
    if not lines and not full:
        return []
    unit = obs.args.get("service") or obs.args.get("source") or "a process"
    return [
        make_finding(
            obs,
            "tasks-exhausted",
            f"{unit} cannot start more processes/threads (task limit reached)",
            [*full, *lines][:3],
            {"unit": str(unit), "count": len(lines)},
            severity="critical",
            confidence=0.85,
            remediation="Raise TasksMax=/pids limit or stop the runaway forking, then restart the service "
            "(restart_service, needs approval).",
        )
    ]


_UNIT_MEMORY = re.compile(
    r"^\s*Memory:\s+(?P<used>[\d.]+[BKMGTP]?)\s+\((?:[^)]*?\s)?max:\s+(?P<max>[\d.]+[BKMGTP]?)\b"
)


@analyzer
def unit_memory_near_limit(obs: Observation) -> list[Finding]:
    """systemctl status: a unit using 95% or more of its MemoryMax= (the kernel OOM-kills it at the limit)."""
    for ln in obs.lines:
        m = _UNIT_MEMORY.match(ln)
        if not m:
            continue
        used, limit = amount(m.group("used")), amount(m.group("max"))
        if used is None or not limit or used / limit < 0.95:
            return []
        unit = str(obs.args.get("service") or "the unit")
        return [
            make_finding(
                obs,
                "memory-limit-near",
                f"{unit} uses {m.group('used')} of its {m.group('max')} memory limit (MemoryMax)",
                [ln],
                {"unit": unit, "used": m.group("used"), "limit": m.group("max")},
                severity="info",  # page cache counts too: at the limit is normal until something is killed
                confidence=0.75,
                next_checks=[call("log_tail", source=f"unit:{unit}", grep="oom|Killed|memory")],
            )
        ]
    return []


@analyzer
def memory_or_cpu_exhausted(obs: Observation) -> list[Finding]:
    """`free`: available memory under 5% of total; load average above twice the CPUs."""
    if obs.tool != "host_resources" and "Mem:" not in obs.output and "MemAvailable:" not in obs.output:
        return []
    out = []
    mem = parse_free(obs.output)
    if mem is not None and mem.ratio < 0.05:
        out.append(
            make_finding(
                obs,
                "memory-exhausted",
                f"memory is nearly exhausted: {mem.available} of {mem.total} available",
                [mem.line, *([mem.also] if mem.also else [])],
                {"host": "host", "available": mem.available, "total": mem.total},
                severity="high",
                confidence=0.85,
                next_checks=[call("process_list")],
            )
        )
    load, cpus = _LOAD.search(obs.output), _CPUS.search(obs.output)
    if (
        load
        and cpus
        and float(load.group("one")) > 2 * int(cpus.group(1))
        and float(load.group("five")) > int(cpus.group(1))
    ):
        out.append(
            make_finding(
                obs,
                "cpu-overloaded",
                f"load average {load.group('one')} on {cpus.group(1)} CPUs",
                [ln for ln in obs.lines if "load average" in ln][:1],
                {"host": "host", "load": float(load.group("one")), "cpus": int(cpus.group(1))},
                severity="medium",
                confidence=0.7,
                next_checks=[call("process_list")],
            )
        )
    return out
