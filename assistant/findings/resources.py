"""Host resources running out: full filesystems (space or inodes), ENOSPC, the kernel's OOM killer."""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, call, make_finding

_DF_ROW = re.compile(r"^(?P<fs>\S+)\s+(?:\S+\s+){3}(?P<pct>\d+)%\s+(?P<mount>/\S*)\s*$")
_DU_ROW = re.compile(r"(?:^|[\s,:])(?P<size>\d+(?:[.,]\d+)?[KMGTP]?)\s+(?P<path>/[\w./@-]{1,1024})(?=\s*(?:,|$))")
_ABS_PATH = re.compile(r"(?<![\w./@-])(/(?:var|srv|data|home|tmp|mnt)/[\w./@-]{1,1024})")
SYSLOG_CHECK = {"source": "/var/log/syslog", "grep": "No space left on device|[0-9][KMGT]\\s+/", "lines": 200}
_ENOSPC = re.compile(r"No space left on device|ENOSPC|\[Errno 28\]|could not extend file|disk is full", re.IGNORECASE)
_ENOSPC_PATH = re.compile(r"(?:'|\")(?P<p1>/[^'\"]+)(?:'|\")|(?<![\w./@-])(?P<p2>/[\w./@-]{1,1024}):? No space left")
_OOM = [
    re.compile(r"(?:Out of memory|Memory cgroup out of memory): Killed process (?P<pid>\d+) \((?P<proc>[^)]+)\)"),
    re.compile(r"oom-kill:.*?task=(?P<proc>[^,]+),pid=(?P<pid>\d+)"),
    re.compile(r"(?<![\w.@-])(?P<unit>[\w.@-]{1,128})\.service: (?:A process of this unit has been killed by the OOM killer|"
               r"Failed with result 'oom-kill')"),
]
_SIZE = {"K": 1, "M": 2**10, "G": 2**20, "T": 2**30, "P": 2**40}


def _kib(size: str) -> float:
    unit = size[-1] if size[-1] in _SIZE else "K"
    return float(size.rstrip("KMGTP").replace(",", ".")) * _SIZE[unit]


@analyzer
def filesystem_full(obs: Observation) -> list[Finding]:
    """`df -h` / `df -i` rows at 95% or more (90% is worth a warning), with the biggest `du` entries if shown."""
    out = []
    inodes = False
    du = _du(obs)
    for ln in obs.lines:
        if "Mounted on" in ln:
            inodes = "IUse%" in ln
            continue
        m = _DF_ROW.match(ln.strip())
        if not m or int(m.group("pct")) < 90:
            continue
        pct, mount = int(m.group("pct")), m.group("mount")
        big = [d for d in du if d[1].startswith(mount.rstrip("/") + "/") or mount == "/"][:3]
        what = "inodes" if inodes else "space"
        out.append(make_finding(
            obs, "disk-full", f"{mount} is {pct}% full ({what})" + (f"; largest: {big[0][1]} ({big[0][0]})" if big
                                                                    else ""),
            [ln, *(d[2] for d in big)], {"mount": mount, "use_percent": pct, "kind": what, "device": m.group("fs"),
                                         "largest": [d[1] for d in big] or None},
            severity="critical" if pct >= 98 else "high" if pct >= 95 else "medium", confidence=0.95,
            next_checks=[] if big or pct < 95 else [call("log_tail", **SYSLOG_CHECK)],
            remediation=f"Free {what} on {mount}"
            + (f" (start with {big[0][1]}, {big[0][0]})" if big else " (find the largest files/directories)")
            + ", then restart the services that failed writing (restart_service, needs approval).",
        ))
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
        out.append(make_finding(
            obs, "disk-full", f"{path} takes {size} on the full {mount}", [line, *(d[2] for d in big[1:3])],
            {"mount": mount, "path": path, "size": size, "use_percent": f.facts.get("use_percent"),
             "largest": [d[1] for d in big[:3]]}, severity="critical", confidence=0.96,
            next_checks=[call("process_list", match=path.rsplit("/", 1)[-1].split(".")[0])],
            remediation=f"Truncate or rotate {path} (by hand: Firstline has no tool that deletes files), stop "
            "whatever writes it so fast, then restart the services that failed writing (restart_service, "
            "needs approval).",
        ))
    return out


@analyzer
def no_space_errors(obs: Observation) -> list[Finding]:
    """Applications failing writes with ENOSPC / `No space left on device`."""
    lines = obs.grep(_ENOSPC)
    if not lines:
        return []
    path = next((m.group("p1") or m.group("p2") for ln in lines if (m := _ENOSPC_PATH.search(ln))), None)
    nearby = next((m.group(1) for ln in obs.lines if (m := _ABS_PATH.search(ln))), None)
    probe = (path.rsplit("/", 1)[0] or "/") if path else (nearby or "/")
    return [make_finding(
        obs, "disk-full", f"writes fail with No space left on device{f' ({path})' if path else ''}", lines,
        {"mount": None, "path": path, "count": len(lines)}, severity="critical", confidence=0.85,
        next_checks=[call("disk_usage", path=probe)],
    )]


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
    return [make_finding(
        obs, "oom-killed", f"the OOM killer killed {who}" + (f" (pid {pid})" if pid else ""),
        [h[0] for h in hits], {"process": who, "pid": int(pid) if pid else None, "unit": unit},
        severity="critical", confidence=0.9,
        next_checks=[call("host_resources"), call("process_list")],
        remediation=f"Find why {who} grows (or give it more memory), then "
        + (call("restart_service", service=unit) if unit else "restart it") + " (needs approval).",
    )]
