"""A process at (or near) its open-files limit, read from open_files' table.

At the soft RLIMIT_NOFILE every accept(), connect() and open() fails with EMFILE ("Too many open files")
while ps and systemctl show a healthy process. Logs that say so are `fd-exhausted` already (resources.py);
this reads the count against the limit, so the same finding names the process, its usage and what leaks.
"""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, make_finding

WARN_PERCENT = 90.0
_ROW = re.compile(
    r"^\s*(?P<pid>\d+)\s+(?P<name>\S+)\s+(?P<open>\d+)\s+(?P<soft>\d+)\s+(?P<hard>\d+|unlimited)\s+"
    r"(?P<pct>\d+(?:\.\d+)?)%\s*$"
)
_KINDS = re.compile(r"^fds of (?P<pid>\d+): (?P<kinds>.+)$")


@analyzer
def open_files_near_limit(obs: Observation) -> list[Finding]:
    """open_files rows at 90% or more of the soft limit, with that process's fd kinds."""
    if obs.tool != "open_files":
        return []
    kinds = {m["pid"]: (ln, m["kinds"]) for ln in obs.lines if (m := _KINDS.match(ln))}
    out = []
    for ln in obs.lines:
        m = _ROW.match(ln)
        if not m or float(m["pct"]) < WARN_PERCENT:
            continue
        pid, name, pct = int(m["pid"]), m["name"], float(m["pct"])
        kind_line, kind_text = kinds.get(m["pid"], ("", ""))
        top = kind_text.split(",")[0].strip() if kind_text else ""
        warn = next((w for w in obs.lines if w.startswith(f"# {pid} ") and "soft limit" in w), "")
        out.append(
            make_finding(
                obs,
                "fd-exhausted",
                f"{name} (PID {pid}) holds {m['open']} of its {m['soft']} allowed open files ({pct:.1f}%)"
                + (f", mostly {top.split()[0]}s ({top.split()[-1]})" if top else ""),
                [ln, kind_line, warn],
                {
                    "pid": pid,
                    "process": name,
                    "open": int(m["open"]),
                    "soft_limit": int(m["soft"]),
                    "hard_limit": None if m["hard"] == "unlimited" else int(m["hard"]),
                    "use_percent": pct,
                    "kinds": kind_text or None,
                },
                severity="critical" if pct >= 99 else "high",
                confidence=0.9,
                remediation=f"Restart {name} to free its descriptors now (restart_service, needs approval); "
                "then find what it leaks (the largest kind above) and raise its limit (LimitNOFILE= in the "
                "unit, or ulimit -n).",
            )
        )
    return out
