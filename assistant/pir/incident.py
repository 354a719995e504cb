"""The incident timeline: what happened on the target, and when, read from the evidence's own timestamps.

Kept apart from the response timeline (the chat: when the engineer asked and Firstline answered).
Detection, mitigation and resolution times come from here only; an end the evidence does not
show stays unknown (a TODO in the PIR), never replaced by chat seconds. Sandbox and replayed
targets run on a simulated clock, so there the time an action ran in the chat is not evidence,
and kubectl ages (counted back from the chat) are used only when no output states a real time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from assistant.pir.clock import Stamp, stamp, year_hint
from assistant.pir.data import Command, PirFacts
from assistant.pir.fmt import flat

Kind = Literal[
    "first error", "errors continue", "deploy", "change", "alert", "restart", "mitigation", "recovery"
]
MAX_EVENTS = 16
RESTART_WINDOW = timedelta(minutes=10)
QUOTE = 200

_ERROR = re.compile(
    r"\b(?:error|err|fail(?:ed|ure|ing)?|fatal|panic|emerg|crit(?:ical)?|refused|denied|"
    r"no space left|timed? ?out|exception|traceback|oom|out of memory|killed|crash\w*|back-?off|"
    r"unhealthy|unreachable|cannot|can't|could not|errno|exit(?:ed)? (?:code|status)[= ]?[1-9]|"
    r"warning)\b",
    re.IGNORECASE,
)
_DEPLOY = re.compile(
    r"\b(?:deploy(?:ed|ment)?|roll(?:ed)?[ -]?out|rollout|release[ds]?|upgrade[ds]?|"
    r"ScalingReplicaSet|Scaled (?:up|down) replica set|helm|new version|image .* (?:pulled|updated))\b",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(?:config(?:uration)? (?:change|reload|updated)|reloaded|changed|migrat\w+|"
    r"level=DEBUG|log-level=DEBUG|feature flag|set to|apt(?:-get)? install|dpkg|patch(?:ed)?)\b",
    re.IGNORECASE,
)
_ALERT = re.compile(
    r"\b(?:alert\w*|alarm|firing|paged?|watchdog|disk-watch|threshold|monitor(?:ing)?|"
    r"at \d{2,3}%)",
    re.IGNORECASE,
)
_RESTART = re.compile(
    r"\b(?:Started|Starting|Stopped|Stopping|restart(?:ed|ing)?|reboot(?:ed)?|Booting worker|"
    r"Killing|Created container|Started container)\b"
)
_RECOVERY = re.compile(
    r"\b(?:recovered|resolved|back to normal|active \(running\)|ready to accept|"
    r"accepting connections|listening on|is now ready|became ready|Readiness probe succeeded|"
    r"(?:is )?healthy)(?!\w)",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\bnot (?:ready|healthy)|unhealthy", re.IGNORECASE)
LIVE_PREFIXES = ("local", "kubernetes", "ssh")
"""Targets on the real clock: there the time a fix ran is itself evidence."""


class IncidentEvent(BaseModel):
    at: datetime
    kind: Kind
    text: str
    """The output line, quoted (shortened)."""
    ref: str
    approx: bool = False


class IncidentMetrics(BaseModel):
    started_at: datetime | None = None
    """Impact began: the first error the evidence shows."""
    detected_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    time_to_detect_s: float | None = None
    time_to_mitigate_s: float | None = None
    time_to_resolve_s: float | None = None
    basis: dict[str, str] = Field(default_factory=dict)
    """For each time: the evidence it was read from, or why it is unknown."""


class Incident(BaseModel):
    events: list[IncidentEvent] = Field(default_factory=list)
    metrics: IncidentMetrics = Field(default_factory=IncidentMetrics)
    clock: str = ""
    """Where the times come from (the target's clock, simulated clock, kubectl ages...)."""


def _kind(line: str) -> Kind | None:
    if _RECOVERY.search(line) and not _NEGATED.search(line) and not _ERROR.search(line):
        return "recovery"
    if _ERROR.search(line):
        return "first error"
    if _DEPLOY.search(line):
        return "deploy"
    if _CHANGE.search(line):
        return "change"
    if _ALERT.search(line):
        return "alert"
    if _RESTART.search(line):
        return "restart"
    return None


def _live(facts: PirFacts) -> bool:
    return facts.session.target.startswith(LIVE_PREFIXES)


def _stamped(facts: PirFacts) -> list[tuple[Stamp, Kind, str, Command]]:
    """Every timestamped line of every output that says something happened, with its kind."""
    outputs = facts.outputs()
    default_year = year_hint("\n".join(outputs.values())) or facts.session.created_at.year
    out = []
    for cmd in facts.commands:
        text = outputs.get(cmd.ref, "")
        year = year_hint(text) or default_year
        for line in text.splitlines():
            kind = _kind(line)
            if kind is None:
                continue
            st = stamp(line, year, cmd.started_at)
            if st is not None:
                out.append((st, "mitigation" if cmd.risk == "write" else kind, flat(line), cmd))
    if any(not st.approx for st, *_ in out) and not _live(facts):
        out = [x for x in out if not x[0].approx]  # ages count from the chat's clock, not the simulated one
    return out


def _pick(items: list[tuple[Stamp, Kind, str, Command]]) -> list[IncidentEvent]:
    """The events a reader needs: first and last error, every change, alerts, restarts, mitigation, recovery."""
    seen: set[tuple[datetime, str]] = set()
    uniq = []
    for st, kind, line, cmd in sorted(items, key=lambda x: (x[0].at, x[3].n)):
        if (st.at, line) not in seen:
            seen.add((st.at, line))
            uniq.append(IncidentEvent(at=st.at, kind=kind, text=_clip(line), ref=cmd.ref, approx=st.approx))
    errors = [e for e in uniq if e.kind == "first error"]
    first_error = errors[0].at if errors else None
    keep = errors[:1]
    if len(errors) > 1 and errors[-1].at > errors[0].at:
        keep.append(errors[-1].model_copy(update={"kind": "errors continue"}))
    keep += [e for e in uniq if e.kind in ("deploy", "change")][:5]
    alerts = [e for e in uniq if e.kind == "alert"]
    keep += alerts[:1] + alerts[-1:] if len(alerts) > 1 else alerts
    soon = first_error - RESTART_WINDOW if first_error else None  # a (re)start just before the errors began
    keep += [e for e in uniq if e.kind == "restart" and (soon is None or e.at >= soon)][:2]
    keep += [e for e in uniq if e.kind == "mitigation"][:2]
    keep += [e for e in uniq if e.kind == "recovery" and first_error is not None and e.at > first_error][:1]
    return sorted(keep, key=lambda e: e.at)[:MAX_EVENTS]


def _clip(line: str) -> str:
    return line if len(line) <= QUOTE else line[: QUOTE - 1].rstrip() + "…"


def _actions(facts: PirFacts) -> list[IncidentEvent]:
    """On a live target a fix that ran is an incident event at the time it ran."""
    if not _live(facts):
        return []
    return [
        IncidentEvent(
            at=c.started_at, kind="mitigation", text=f"ran {c.command or c.tool} ({c.status})", ref=c.ref
        )
        for c in facts.commands
        if c.risk == "write" and c.ok
    ]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0), 1)


def _metrics(events: list[IncidentEvent], after_fix: set[str]) -> IncidentMetrics:
    """`after_fix`: outputs taken after a fix ran; a (re)start or recovery they show dates the mitigation."""

    def first(*kinds: str, after: datetime | None = None) -> IncidentEvent | None:
        return next((e for e in events if e.kind in kinds and (after is None or e.at >= after)), None)

    start = first("first error")
    detect = first("alert")
    mitigate = first("mitigation", after=start.at if start else None) or next(
        (
            e
            for e in events
            if e.ref in after_fix
            and e.kind in ("restart", "recovery")
            and (start is None or e.at >= start.at)
        ),
        None,
    )
    since = mitigate or start
    resolve = first("recovery", after=since.at if since is not None else None)
    basis = {
        name: (f"{e.kind} at [{e.ref}]: “{e.text[:120]}”" if e else why)
        for name, e, why in (
            ("started", start, "no error with a timestamp in the evidence"),
            ("detected", detect, "no alert in the evidence: when did monitoring notice?"),
            ("mitigated", mitigate, "no fix with a timestamp in the evidence"),
            ("resolved", resolve, "no recovery with a timestamp in the evidence"),
        )
    }
    s = start.at if start else None
    return IncidentMetrics(
        started_at=s,
        detected_at=detect.at if detect else None,
        mitigated_at=mitigate.at if mitigate else None,
        resolved_at=resolve.at if resolve else None,
        basis=basis,
        time_to_detect_s=_seconds(s, detect.at if detect else None),
        time_to_mitigate_s=_seconds(s, mitigate.at if mitigate else None),
        time_to_resolve_s=_seconds(s, resolve.at if resolve else None),
    )


def incident(facts: PirFacts) -> Incident:
    items = _stamped(facts)
    events = sorted(_pick(items) + _actions(facts), key=lambda e: e.at)
    fixed = min((c.started_at for c in facts.commands if c.risk == "write" and c.ok), default=None)
    after_fix = {
        c.ref for c in facts.commands if fixed is not None and c.started_at > fixed and c.risk != "write"
    }
    if not items:
        clock = "no output carried a timestamp"
    elif _live(facts):
        clock = "the target's clock, as written in the outputs (ages counted back from when a command ran)"
    elif any(st.approx for st, *_ in items):
        clock = "kubectl ages counted back from when each command ran (approximate)"
    else:
        clock = "the times written in the outputs (the target's clock)"
    return Incident(events=events, metrics=_metrics(events, after_fix), clock=clock)
