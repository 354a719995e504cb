"""The deterministic sections, derived by code from the gathered facts.

Severity and impact from the reporter's words, metrics and timeline from stored times,
the response as the checks in the order they ran (dead ends included), what was done
and what was only proposed, the changes the conversation or the evidence mention, and
the questions nobody answered. No model is involved in any of it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from assistant.findings.base import parse_calls
from assistant.pir.data import Command, FindingFacts, PirFacts
from assistant.pir.fmt import code, flat
from assistant.pir.incident import Incident, incident
from assistant.pir.timeline import Metrics, TimelineEntry, metrics, ranked, timeline
from assistant.pir.words import Impact, Severity, assess_severity, change_clues, impact_of

MAX_CLUES = 10

# What a clean result of these checks rules out (only checks whose silence means something).
RULES_OUT = {
    "disk_usage": "disk space or inodes exhausted on {path}",
    "host_resources": "CPU, memory or swap pressure on the host",
    "dns_lookup": "{name} not resolving",
    "tls_certificate": "an expired or invalid TLS certificate on {host}",
    "http_check": "{url} answering with an error",
    "service_status": "{service} being down or failed",
}


class Step(BaseModel):
    """One check of the response, in the order it ran."""

    ref: str
    command: str
    status: str
    outcome: str
    """finding, repeat (shows a fault already found), nothing (a dead end), failed, or not run."""
    abnormal: list[str] = Field(default_factory=list)
    finding_ids: list[str] = Field(default_factory=list)
    after_fix: bool = False
    """Ran after the first successful fix: verification, not diagnosis."""


class Proposal(BaseModel):
    what: str
    source: str
    status: str = "not executed"


class Clue(BaseModel):
    """A change or a start time mentioned by the reporter (ref None) or seen in a command's output."""

    text: str
    ref: str | None = None


class Derived(BaseModel):
    severity: Severity
    impact: Impact
    metrics: Metrics
    """The response's own times (chat clock): when it was reported, diagnosed, acted on."""
    timeline: list[TimelineEntry]
    """The response timeline (the chat), kept apart from the incident's."""
    incident: Incident = Field(default_factory=Incident)
    """The incident timeline and its metrics, from the evidence's own timestamps."""
    root_cause: FindingFacts | None = None
    contributing: list[FindingFacts] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    ruled_out: list[str] = Field(default_factory=list)
    executed: list[str] = Field(default_factory=list)
    """Write actions that ran after approval, one line each."""
    proposed: list[Proposal] = Field(default_factory=list)
    clues: list[Clue] = Field(default_factory=list)
    symptom: str | None = None
    """The user-visible failure as the evidence shows it (least causal finding), for an unstated impact."""
    open_questions: list[str] = Field(default_factory=list)


def _outcome(cmd: Command) -> str:
    if cmd.ok is None:
        return "no result"
    if cmd.exit_code is None and cmd.error:
        return "not run"
    if cmd.finding_ids:
        return "finding"
    if cmd.abnormal:
        return "repeat"
    if not cmd.ok:
        return "failed"
    return "nothing"


def _first_fix(facts: PirFacts) -> datetime | None:
    return min((c.started_at for c in facts.commands if c.risk == "write" and c.ok), default=None)


def steps(facts: PirFacts) -> list[Step]:
    fixed = _first_fix(facts)
    return [
        Step(
            ref=c.ref,
            command=c.command or c.tool,
            status=c.status,
            outcome=_outcome(c),
            finding_ids=list(c.finding_ids),
            abnormal=list(c.abnormal),
            after_fix=fixed is not None and c.started_at > fixed,
        )
        for c in facts.commands
        if c.risk != "write"
    ]


def ruled_out(facts: PirFacts) -> list[str]:
    """Hypotheses a clean check ruled out during the investigation (checks after a fix only verify it).
    Clean means the analyzers find nothing wrong in the whole output, not merely that no new finding
    was recorded under it (a repeated fault is recorded once)."""
    fixed = _first_fix(facts)
    seen: dict[str, tuple[str, list[str]]] = {}
    for c in facts.commands:
        template = RULES_OUT.get(c.tool)
        if template is None or _outcome(c) != "nothing" or (fixed is not None and c.started_at > fixed):
            continue
        try:
            hypothesis = template.format_map({k: str(v) for k, v in c.args.items()})
        except KeyError:
            continue
        seen.setdefault(hypothesis, (c.command or c.tool, []))[1].append(c.ref)
    return [
        f"{h} — {code(cmd)} showed nothing abnormal [{'], ['.join(refs)}]" for h, (cmd, refs) in seen.items()
    ]


def _executed_calls(facts: PirFacts) -> list[tuple[str, dict]]:
    return [(c.tool, c.args) for c in facts.commands if c.risk == "write" and c.ok]


def _remediation_done(remediation: str, done: list[tuple[str, dict]]) -> bool:
    """True when every tool call the remediation names was executed (same tool, same arguments)."""
    wanted = parse_calls(remediation)

    def ran(tool: str, args: dict) -> bool:
        return any(t == tool and all(a.get(k) == v for k, v in args.items()) for t, a in done)

    return bool(wanted) and all(ran(tool, args) for tool, args in wanted)


def actions(facts: PirFacts) -> tuple[list[str], list[Proposal]]:
    """(executed actions, proposals that were not executed): approvals first, then findings' remediation."""
    executed, proposed = [], []
    for a in facts.approvals:
        cmd = facts.command(a.result_ref)
        if cmd is not None:
            who = a.decided_by or "unknown"
            executed.append(
                f"{code(a.command)} on {a.target} — approved by {who}, "
                f"ran at {cmd.started_at:%H:%M:%S}Z, {cmd.status} [{cmd.ref}]"
            )
            continue
        why = {
            "denied": f"denied by {a.decided_by or 'unknown'}",
            "expired": "no decision before the turn ended",
            "pending": "still awaiting a decision",
            "approved": "approved, but no result was recorded",
        }
        note = f" ({flat(a.comment)})" if a.comment else ""
        proposed.append(
            Proposal(
                what=code(a.command), source="approval request", status=why.get(a.status, a.status) + note
            )
        )
    done = _executed_calls(facts)
    for f in ranked(facts.findings):
        if f.remediation and not _remediation_done(f.remediation, done):
            proposed.append(
                Proposal(
                    what=flat(f.remediation),
                    source=f"finding {f.finding_id}",
                    status="suggested, not executed",
                )
            )
    return executed, proposed


def clues(facts: PirFacts) -> list[Clue]:
    out = [Clue(text=c) for text in facts.reporter_words for c in change_clues(text)]
    for cmd in facts.commands:
        if cmd.risk != "write":  # an action's own output describes the fix, not the leadup
            out += [Clue(text=line, ref=cmd.ref) for line in cmd.change_lines]
    return out[:MAX_CLUES]


def open_questions(facts: PirFacts) -> list[str]:
    """Checks the findings asked for that never ran, plus the unknowns every PIR must state."""
    ran = {(c.tool, tuple(sorted((k, str(v)) for k, v in c.args.items()))) for c in facts.commands}
    out = []
    for f in facts.findings:
        for check in f.next_checks:
            calls = parse_calls(check)
            if calls and all((t, tuple(sorted((k, str(v)) for k, v in a.items()))) in ran for t, a in calls):
                continue
            item = f"Not checked (suggested by {f.finding_id}): {code(check)}"
            if item not in out:
                out.append(item)
    if not facts.findings:
        out.append("The root cause was not established in this session.")
    if not any(c.risk == "write" and c.ok for c in facts.commands):
        out.append("When did impact end? No fix was executed through Firstline.")
    return out


def symptom(facts: PirFacts) -> str | None:
    order = ranked(facts.findings)
    if not order:
        return None
    f = order[-1]
    refs = list(dict.fromkeys(e.ref for e in f.evidence if e.ref))
    return f"{flat(f.title)} ({f.finding_id}" + (f", [{'], ['.join(refs)}])" if refs else ")")


def derive(facts: PirFacts) -> Derived:
    m = metrics(facts)
    order = ranked(facts.findings)
    executed, proposed = actions(facts)
    words = facts.reporter_words
    return Derived(
        severity=assess_severity(words),
        impact=impact_of(words),
        metrics=m,
        timeline=timeline(facts, m),
        incident=incident(facts),
        root_cause=order[0] if order else None,
        contributing=order[1:],
        steps=steps(facts),
        ruled_out=ruled_out(facts),
        executed=executed,
        proposed=proposed,
        clues=clues(facts),
        symptom=symptom(facts),
        open_questions=open_questions(facts),
    )
