"""Application-level causes: required configuration missing, a runtime's heap exhausted."""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, make_finding
from assistant.findings.known import heap_filler

_VAR = r"[\"'`]?(?P<name>[A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z]{4,})[\"'`]?"
_MISSING = [
    re.compile(rf"{_VAR} (?:is )?(?:required but (?:not set|missing|empty)|not set|is not defined|missing)"),
    re.compile(
        rf"(?:missing|required|undefined|unset) (?:required )?(?:env(?:ironment)?(?: variable)?|config(?:uration)?"
        rf"(?: key| value)?|setting)s?:? {_VAR}",
        re.IGNORECASE,
    ),
    re.compile(
        rf"env(?:ironment)? variable {_VAR} (?:is )?(?:not set|missing|required|undefined)", re.IGNORECASE
    ),
    re.compile(rf"KeyError: {_VAR}"),
]
_HEAP = re.compile(
    r"(?:java\.lang\.)?OutOfMemoryError: (?P<kind>[\w ]+)|JavaScript heap out of memory|"
    r"fatal error: runtime: out of memory|\bMemoryError\b"
)


@analyzer
def missing_config(obs: Observation) -> list[Finding]:
    """The process stops because a required setting / environment variable is not set."""
    if not obs.mentions("not set", "missing", "required", "undefined", "unset", "keyerror", "not defined"):
        return []
    found: dict[str, list[str]] = {}
    for ln in obs.lines:
        m = next((m for rx in _MISSING if (m := rx.search(ln))), None)
        if m:
            found.setdefault(m.group("name"), []).append(ln.strip())
    return [
        make_finding(
            obs,
            "missing-config",
            f"required setting {name} is not set, so the process exits at start",
            lines,
            {"name": name, "count": len(lines)},
            severity="critical",
            confidence=0.85,
            remediation=f"Provide {name} to the process (environment, ConfigMap/Secret key, unit file), then restart it.",
        )
        for name, lines in found.items()
    ]


_FRAME = re.compile(r"^\s*at (?!(?:java|javax|jdk|sun|com\.sun|kotlin|scala)\.)(?P<frame>[\w.$<>]+)\(")


def _allocation_site(obs: Observation) -> str | None:
    """The first application frame of the OutOfMemoryError's stack trace: where the heap was being filled."""
    for i, ln in enumerate(obs.lines):
        if "OutOfMemoryError" in ln:
            for nxt in obs.lines[i + 1 : i + 20]:
                m = _FRAME.match(nxt)
                if m:
                    return f"allocating in {m.group('frame')}"
    return None


@analyzer
def heap_exhausted(obs: Observation) -> list[Finding]:
    """A runtime ran out of its own heap (JVM -Xmx, Node --max-old-space-size, Go/Python) and died."""
    if not obs.mentions("memory"):
        return []
    lines = obs.grep(_HEAP)
    if not lines:
        return []
    m = next(m for ln in lines if (m := _HEAP.search(ln)))
    runtime = (
        "java"
        if "OutOfMemoryError" in m.group(0)
        else "node"
        if "JavaScript" in m.group(0)
        else "go"
        if "runtime:" in m.group(0)
        else "python"
    )
    xmx = re.search(r"-Xmx(\d+[kmgKMG]?)", obs.output)
    filler = heap_filler(obs) or _allocation_site(obs)
    return [
        make_finding(
            obs,
            "heap-exhausted",
            f"the {runtime} process ran out of heap ({m.group(0).strip()})"
            + (f" with -Xmx{xmx.group(1)}" if xmx else "")
            + (f"; the log says what fills it: {filler!r}" if filler else ""),
            lines[-3:],
            {
                "process": runtime,
                "kind": (m.groupdict().get("kind") or "heap").strip(),
                "max_heap": xmx.group(1) if xmx else None,
                "filler": filler,
                "count": len(lines),
            },
            severity="critical",
            confidence=0.9,
            remediation="Give the process more heap (e.g. raise -Xmx / --max-old-space-size within the host's memory) "
            "or fix what fills it, then restart it (restart_service, needs approval).",
        )
    ]
