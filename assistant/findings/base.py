"""What an analyzer sees (one tool run's output) and how it states a finding.

Analyzers read text exactly as an engineer would see it, so the same code serves a
live ToolResult and a tool message the runbook model only has as text. Evidence is
always whole lines copied from that output, never paraphrase.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.events import Evidence, Finding, NextCheck
from assistant.findings.logtext import unframe

MAX_LINE = 2000
"""Longer lines are read only up to here: keeps every regex linear-ish on hostile input."""


@dataclass(frozen=True)
class Observation:
    """One tool run as text plus the arguments it was called with."""

    tool: str
    output: str
    call_id: str = ""
    command: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    prior: tuple[Finding, ...] = ()
    """Findings already made earlier in the session (lets an owner be tied to a bind error)."""
    did_not_run: bool = False
    """The text is the tool's own error (no output: refused, timed out, nothing recorded), not what the
    target printed: analyzers that read a log's last words must not take it for the workload's."""

    @functools.cached_property
    def lines(self) -> list[str]:
        """Output lines without a `stdout:`/`stderr:` frame, each cut to MAX_LINE characters (what is left is
        still an exact substring of the output, so it can be quoted as evidence)."""
        return [unframe(ln)[:MAX_LINE] for ln in self.output.splitlines()]

    @functools.cached_property
    def lower(self) -> str:
        return self.output.lower()

    def mentions(self, *cues: str) -> bool:
        """Does the output contain any of these lowercase words? A cheap test before an analyzer's regexes."""
        return any(c in self.lower for c in cues)

    def grep(self, pattern: re.Pattern[str] | str, limit: int = 50) -> list[str]:
        """Stripped output lines matching `pattern` (search, case-insensitive when given a str)."""
        rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
        out = [ln.strip() for ln in self.lines if rx.search(ln)]
        return out[:limit]

    def prior_of(self, signature: str) -> list[Finding]:
        return [f for f in self.prior if f.signature == signature]


Analyzer = Callable[[Observation], list[Finding]]
ANALYZERS: list[Analyzer] = []
Fallback = Callable[[Observation, set[str]], list[Finding]]
FALLBACKS: list[Fallback] = []


def analyzer(fn: Analyzer) -> Analyzer:
    """Register an analyzer; every registered one runs on every observation."""
    ANALYZERS.append(fn)
    return fn


def fallback(fn: Fallback) -> Fallback:
    """Register a generic analyzer: it runs after the specific ones and is given the lines they already cite,
    so it reports only what no specific signature explained."""
    FALLBACKS.append(fn)
    return fn


# ------------------------------------------------------------------ signatures


from assistant.findings.signatures import SIGNATURES, Signature  # noqa: E402,F401 - the one registry


def dedup_key(finding: Finding) -> tuple:
    """(signature, key facts): two findings with the same key describe the same problem."""
    sig = SIGNATURES.get(finding.signature)
    keys = sig.key if sig else tuple(sorted(finding.facts))
    return (finding.signature, *(str(finding.facts.get(k, "")) for k in keys))


def rank(finding: Finding) -> int:
    sig = SIGNATURES.get(finding.signature)
    return sig.rank if sig else 0


# ------------------------------------------------------------------ building findings


class Call(str):
    """A concrete tool call: reads as `port_owner(port=80)` for people, and keeps its tool and args typed."""

    tool: str
    args: dict[str, Any]

    def __new__(cls, tool: str, args: dict[str, Any]) -> Call:
        args = {k: v for k, v in args.items() if v is not None}
        obj = super().__new__(cls, f"{tool}({', '.join(f'{k}={json.dumps(v)}' for k, v in args.items())})")
        obj.tool, obj.args = tool, args
        return obj

    def typed(self) -> NextCheck:
        return NextCheck(tool=self.tool, args=dict(self.args))


def call(tool: str, **args: Any) -> Call:
    """A concrete tool call, e.g. `port_owner(port=80)`: text for people, `.tool`/`.args` for the planner."""
    return Call(tool, args)


_CALL_RE = re.compile(
    r"\b([a-z][a-z0-9_]*)\(((?:[a-z_]+=(?:\"(?:[^\"\\]|\\.)*\"|-?\d+|true|false)(?:, )?)*)\)"
)
_ARG_RE = re.compile(r"([a-z_]+)=(\"(?:[^\"\\]|\\.)*\"|-?\d+|true|false)")


def parse_calls(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Every `tool(k=v, ...)` written by `call` in `text`, in order."""
    out = []
    for m in _CALL_RE.finditer(text or ""):
        args = {k: json.loads(v) for k, v in _ARG_RE.findall(m.group(2))}
        out.append((m.group(1), args))
    return out


def _unique(lines: Iterable[str], limit: int) -> list[str]:
    seen: list[str] = []
    for ln in lines:
        ln = ln.strip()
        if ln and ln not in seen:
            seen.append(ln)
    return seen[:limit]


def make_finding(
    obs: Observation,
    signature: str,
    title: str,
    lines: Iterable[str],
    facts: dict[str, Any],
    *,
    severity: str = "high",
    confidence: float = 0.8,
    next_checks: Iterable[Call] = (),
    remediation: str | None = None,
    max_lines: int = 4,
    fixes: Iterable[Call] = (),
) -> Finding:
    """A finding whose id is stable for the same problem (signature + key facts).

    `next_checks` and `fixes` are `call(...)` values: kept typed on the finding and shown as text."""
    facts = {k: v for k, v in facts.items() if v is not None}
    draft = Finding(finding_id="", signature=signature, title=title, facts=facts)
    digest = hashlib.sha1(json.dumps(dedup_key(draft), default=str).encode()).hexdigest()[:10]
    evidence = _unique((ln for ln in lines if ln.strip() and ln.strip() in obs.output), max_lines)
    checks = list({str(c): c for c in next_checks if c}.values())
    return Finding(
        finding_id=f"{signature}-{digest}",
        signature=signature,
        title=title,
        severity=severity,  # type: ignore[arg-type]
        confidence=confidence,
        evidence=[Evidence(call_id=obs.call_id, tool=obs.tool, command=obs.command, lines=evidence)]
        if evidence
        else [],
        next_checks=[str(c) for c in checks],
        checks=[c.typed() for c in checks if isinstance(c, Call)],
        fixes=[c.typed() for c in fixes if isinstance(c, Call)],
        remediation=remediation,
        facts=facts,
    )


_CLOCK = re.compile(
    r"\d{1,4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|\b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?"
)


def port_of(text: str) -> int | None:
    """The port in a bind/connect error: ':80', 'port 5432', "('0.0.0.0', 8000)"."""
    text = _CLOCK.sub(" ", text)
    for rx in (
        r"\(\s*'[^']*',\s*(\d{1,5})\s*\)",
        r"\bport\s+(\d{1,5})\b",
        r"(?<![\w.:*\]\[-])\[?[\w.:*-]{0,255}\]?:(\d{1,5})\b",
    ):
        found = re.findall(rx, text, re.IGNORECASE)
        for value in reversed(found):
            if 0 < int(value) < 65536:
                return int(value)
    return None


SERVICE_OF_PORT = {
    80: "nginx",
    443: "nginx",
    5432: "postgresql",
    3306: "mysql",
    6379: "redis-server",
    11211: "memcached",
    27017: "mongod",
    5672: "rabbitmq-server",
    9200: "elasticsearch",
}
