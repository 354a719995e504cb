"""The timeline and the response metrics, computed from stored timestamps only.

Diagnosis is the moment the root-cause finding was first stated to the engineer;
mitigation is the first approved write action that ran successfully. When either did
not happen in the session, the metric is None and the PIR says "unknown".
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from assistant.pir.data import Command, FindingFacts, PirFacts

QUOTE_CHARS = 200


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    """report, message, command, action, finding, approval, decision, answer, diagnosis, error."""
    text: str
    refs: list[str] = Field(default_factory=list)


class Metrics(BaseModel):
    first_report_at: datetime | None = None
    diagnosis_at: datetime | None = None
    mitigation_at: datetime | None = None
    last_event_at: datetime | None = None
    time_to_diagnosis_s: float | None = None
    time_to_mitigation_s: float | None = None
    duration_s: float | None = None
    duration_basis: str = ""
    diagnosis_basis: str = ""
    mitigated_by: str | None = None


def one_line(text: str, limit: int = QUOTE_CHARS) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def ranked(findings: list[FindingFacts]) -> list[FindingFacts]:
    """Most causal first: signature rank, then confidence, then the earliest."""
    return sorted(findings, key=lambda f: (-f.rank, -f.confidence, f.created_at))


def root_cause(facts: PirFacts) -> FindingFacts | None:
    order = ranked(facts.findings)
    return order[0] if order else None


def _diagnosis(facts: PirFacts) -> tuple[datetime | None, str]:
    cause = root_cause(facts)
    if cause is None:
        return None, "no finding was recorded, so no diagnosis time"
    answers = [s for s in facts.said if s.role == "assistant" and s.at >= cause.created_at]
    citing = next((s for s in answers if cause.finding_id in s.finding_ids), None)
    if citing is not None:
        return citing.at, f"first answer citing {cause.finding_id}"
    if answers:
        return answers[0].at, f"first answer after {cause.finding_id} was recorded"
    return cause.created_at, f"{cause.finding_id} recorded (no answer followed)"


def _mitigation(facts: PirFacts) -> tuple[datetime | None, str | None]:
    for approval in sorted(facts.approvals, key=lambda a: a.requested_at):
        cmd = facts.command(approval.result_ref)
        if cmd is not None and cmd.ok:
            return cmd.started_at, approval.decided_by
    return None, None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max((end - start).total_seconds(), 0.0), 1)


def metrics(facts: PirFacts) -> Metrics:
    first = next((s.at for s in facts.said if s.role == "user"), None)
    diagnosed, basis = _diagnosis(facts)
    mitigated, by = _mitigation(facts)
    end = mitigated or facts.last_event_at
    duration_basis = (
        "first report → mitigation"
        if mitigated
        else "first report → last recorded event (the incident's end is not recorded)"
    )
    return Metrics(
        first_report_at=first,
        diagnosis_at=diagnosed,
        mitigation_at=mitigated,
        last_event_at=facts.last_event_at,
        time_to_diagnosis_s=_seconds(first, diagnosed),
        time_to_mitigation_s=_seconds(first, mitigated),
        duration_s=_seconds(first, end),
        duration_basis=duration_basis,
        diagnosis_basis=basis,
        mitigated_by=by,
    )


def _command_entry(cmd: Command) -> TimelineEntry:
    shown = f"`{one_line(cmd.command or cmd.tool, 160)}`"
    if cmd.risk == "write":
        text = f"Action {shown} on {cmd.target or 'the target'} — {cmd.status}"
        return TimelineEntry(at=cmd.started_at, kind="action", text=text, refs=[cmd.ref])
    return TimelineEntry(
        at=cmd.started_at, kind="command", text=f"Ran {shown} — {cmd.status}", refs=[cmd.ref]
    )


def _finding_entry(f: FindingFacts) -> TimelineEntry:
    refs = list(dict.fromkeys(e.ref for e in f.evidence if e.ref))
    return TimelineEntry(
        at=f.created_at, kind="finding", text=f"Finding {f.finding_id} ({f.severity}): {f.title}", refs=refs
    )


def _said_entries(facts: PirFacts, diagnosis_at: datetime | None) -> list[TimelineEntry]:
    out, first_user = [], True
    cause = root_cause(facts)
    for s in facts.said:
        if s.role == "user":
            kind, text = ("report", "First report: ") if first_user else ("message", "Engineer: ")
            first_user = False
            out.append(TimelineEntry(at=s.at, kind=kind, text=f"{text}“{one_line(s.text)}”"))
        elif cause is not None and s.at == diagnosis_at:
            out.append(
                TimelineEntry(
                    at=s.at,
                    kind="diagnosis",
                    text=f"Diagnosis stated: {cause.finding_id} — {one_line(cause.title)}",
                )
            )
        else:
            out.append(
                TimelineEntry(at=s.at, kind="answer", text=f"Assistant answered: {one_line(s.text, 160)}")
            )
    return out


def _approval_entries(facts: PirFacts) -> list[TimelineEntry]:
    out = []
    for a in facts.approvals:
        out.append(
            TimelineEntry(
                at=a.requested_at,
                kind="approval",
                text=f"Approval requested for `{one_line(a.command, 160)}`",
            )
        )
        if a.decided_at is None:
            continue
        who = a.decided_by or "unknown"
        verb = {
            "approved": f"Approved by {who}",
            "denied": f"Denied by {who}",
            "expired": "Expired without a decision",
        }.get(a.status, a.status)
        note = f": {one_line(a.comment, 160)}" if a.comment else ""
        out.append(
            TimelineEntry(
                at=a.decided_at,
                kind="decision",
                text=f"{verb} — `{one_line(a.command, 120)}`{note}",
                refs=[a.result_ref] if a.result_ref else [],
            )
        )
    return out


def timeline(facts: PirFacts, m: Metrics) -> list[TimelineEntry]:
    """Every report, command, finding, approval, decision, action, answer and error, in stored-time order."""
    entries = _said_entries(facts, m.diagnosis_at)
    entries += [_command_entry(c) for c in facts.commands]
    entries += [_finding_entry(f) for f in facts.findings]
    entries += _approval_entries(facts)
    entries += [
        TimelineEntry(at=e.at, kind="error", text=f"Error ({e.kind}): {one_line(e.message)}")
        for e in facts.errors
    ]
    order = {id(e): i for i, e in enumerate(entries)}
    if m.diagnosis_at is not None and not any(e.kind == "diagnosis" for e in entries):
        cause = root_cause(facts)
        if cause is not None:
            entries.append(
                TimelineEntry(
                    at=m.diagnosis_at,
                    kind="diagnosis",
                    text=f"Diagnosis: {cause.finding_id} — {one_line(cause.title)}",
                )
            )
            order[id(entries[-1])] = len(order)
    return sorted(entries, key=lambda e: (e.at, order[id(e)]))
