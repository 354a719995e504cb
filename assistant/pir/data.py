"""Gathering a session's stored facts for its PIR: words, commands, findings, approvals.

Everything here comes from the database (the event log and the tables derived from it),
never from a model's memory: timestamps are the stored ones, each command gets a stable
reference (`out-3`) that findings' evidence and the appendix point to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from assistant import store
from assistant.change_words import is_change_line
from assistant.events import FindingFields
from assistant.findings.base import SIGNATURES

EXCERPT_HEAD, EXCERPT_TAIL, EXCERPT_CHARS = 30, 10, 4000
CHANGE_LINES = 5


class SessionFacts(BaseModel):
    id: str
    title: str
    target: str
    model: str
    created_at: datetime


class Said(BaseModel):
    """A message in the conversation: the reporter's words or the assistant's answers."""

    at: datetime
    role: str
    text: str
    finding_ids: list[str] = Field(default_factory=list)


class Command(BaseModel):
    """One entry of the command trail."""

    n: int
    ref: str
    call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    command: str = ""
    target: str = ""
    risk: str = "read"
    started_at: datetime
    duration_ms: float | None = None
    exit_code: int | None = None
    ok: bool | None = None
    error: str | None = None
    truncated: bool = False
    output_sha256: str | None = None
    excerpt: str = ""
    """The head and tail of the stored (already redacted) output, for the appendix."""
    output_lines: int = 0
    change_lines: list[str] = Field(default_factory=list)
    """Output lines that mention a change (deploy, upgrade, config...), for the leadup."""
    finding_ids: list[str] = Field(default_factory=list)
    abnormal: list[str] = Field(default_factory=list)
    """Signatures the analyzers find in this whole output (info ones excepted), whether or not the
    session recorded them under this call (a repeated finding is recorded once, under its first call)."""

    @property
    def status(self) -> str:
        if self.ok is None:
            return "no result recorded"
        if self.error and self.exit_code is None:
            return "not run: " + self.error.splitlines()[0][:160]
        code = f"exit {self.exit_code}" if self.exit_code is not None else ("ok" if self.ok else "failed")
        return code if self.ok or not self.error else f"{code}: {self.error.splitlines()[0][:160]}"


class EvidenceRef(BaseModel):
    ref: str | None
    """The command that produced these lines (`out-N`), None if that call is not in the trail."""
    tool: str
    command: str = ""
    lines: list[str] = Field(default_factory=list)


class FindingFacts(FindingFields):
    """A finding as the PIR cites it: `FindingFields` (assistant/events.py) plus its rank, time and evidence
    pointing at the command trail."""

    rank: int
    created_at: datetime
    evidence: list[EvidenceRef] = Field(default_factory=list)


class ApprovalFacts(BaseModel):
    approval_id: str
    tool: str
    command: str
    target: str
    reason: str = ""
    status: str
    """approved, denied, expired or pending."""
    decided_by: str | None = None
    comment: str | None = None
    requested_at: datetime
    decided_at: datetime | None = None
    result_ref: str | None = None
    """The command trail entry of the executed action (approved ones only)."""


class RelatedSession(BaseModel):
    session_id: str
    title: str
    created_at: datetime
    signatures: list[str]


class TurnError(BaseModel):
    at: datetime
    message: str
    kind: str


class PirFacts(BaseModel):
    session: SessionFacts
    said: list[Said] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    findings: list[FindingFacts] = Field(default_factory=list)
    approvals: list[ApprovalFacts] = Field(default_factory=list)
    errors: list[TurnError] = Field(default_factory=list)
    related: list[RelatedSession] = Field(default_factory=list)
    last_event_at: datetime | None = None
    _outputs: dict[str, str] = PrivateAttr(default_factory=dict)

    def outputs(self) -> dict[str, str]:
        """Each command's whole stored output by reference (only while drafting; never stored in the PIR)."""
        return self._outputs

    @property
    def reporter_words(self) -> list[str]:
        return [s.text for s in self.said if s.role == "user"]

    def command(self, ref: str | None) -> Command | None:
        return next((c for c in self.commands if c.ref == ref), None)


def excerpt(output: str | None) -> tuple[str, int]:
    """Head and tail of an output (the appendix is for reference, the trail keeps it whole)."""
    lines = (output or "").splitlines()
    if len(lines) > EXCERPT_HEAD + EXCERPT_TAIL:
        cut = len(lines) - EXCERPT_HEAD - EXCERPT_TAIL
        lines = [*lines[:EXCERPT_HEAD], f"… {cut} lines omitted …", *lines[-EXCERPT_TAIL:]]
    text = "\n".join(lines)
    if len(text) > EXCERPT_CHARS:
        text = text[:EXCERPT_CHARS] + "\n… (cut)"
    return text, len((output or "").splitlines())


def _change_lines(output: str | None) -> list[str]:
    found = (ln.strip() for ln in (output or "").splitlines() if is_change_line(ln))
    return list(dict.fromkeys(found))[:CHANGE_LINES]


def abnormal(tool: str, output: str, args: dict[str, Any]) -> list[str]:
    """What the analyzers call wrong in an output (what a 'nothing abnormal' claim must not contradict)."""
    from assistant.findings import analyze_text

    found = analyze_text(tool, output, args=args)
    return list(dict.fromkeys(f.signature for f in found if f.severity != "info"))


def _commands(db: Session, session_id: str) -> tuple[list[Command], dict[str, str]]:
    rows = sorted(
        store.list_tool_calls(db, session_id=session_id),
        key=lambda r: (store.as_utc(r.started_at), r.id or 0),
    )
    out, outputs = [], {}
    for n, r in enumerate(rows, start=1):
        outputs[f"out-{n}"] = r.output or ""
        text, count = excerpt(r.output)
        out.append(
            Command(
                n=n,
                ref=f"out-{n}",
                call_id=r.call_id,
                tool=r.tool,
                args=r.args or {},
                command=r.command,
                target=r.target,
                risk=r.risk,
                started_at=store.as_utc(r.started_at),
                duration_ms=r.duration_ms,
                exit_code=r.exit_code,
                ok=r.ok,
                error=r.error,
                truncated=r.truncated,
                output_sha256=r.output_sha256,
                excerpt=text,
                output_lines=count,
                change_lines=_change_lines(r.output),
                abnormal=abnormal(r.tool, r.output or r.error or "", r.args or {}),
            )
        )
    return out, outputs


def _findings(db: Session, session_id: str, commands: list[Command]) -> list[FindingFacts]:
    by_call = {c.call_id: c for c in commands}
    out = []
    for r in store.list_findings(db, session_id=session_id):
        evidence = []
        for ev in r.evidence or []:
            cmd = by_call.get(ev.get("call_id", ""))
            evidence.append(
                EvidenceRef(
                    ref=cmd.ref if cmd else None,
                    tool=ev.get("tool", ""),
                    command=ev.get("command") or (cmd.command if cmd else ""),
                    lines=list(ev.get("lines") or []),
                )
            )
            if cmd is not None and r.finding_id not in cmd.finding_ids:
                cmd.finding_ids.append(r.finding_id)
        sig = SIGNATURES.get(r.signature)
        out.append(
            FindingFacts(
                finding_id=r.finding_id,
                signature=r.signature,
                title=r.title,
                severity=r.severity,
                confidence=r.confidence,
                rank=sig.rank if sig else 0,
                created_at=store.as_utc(r.created_at),
                evidence=evidence,
                next_checks=list(r.next_checks or []),
                remediation=r.remediation,
                facts=dict(r.facts or {}),
            )
        )
    return out


def _approvals(db: Session, session_id: str, commands: list[Command]) -> list[ApprovalFacts]:
    by_call = {c.call_id: c for c in commands}
    out = []
    for r in store.list_approvals(db, session_id=session_id):
        cmd = by_call.get(r.call_id)
        executed = r.status == "approved" and cmd is not None and cmd.exit_code is not None
        out.append(
            ApprovalFacts(
                approval_id=r.id,
                tool=r.tool,
                command=r.command,
                target=r.target,
                reason=r.reason,
                status=r.status,
                decided_by=r.decided_by,
                comment=r.comment,
                requested_at=store.as_utc(r.created_at),
                decided_at=store.as_utc(r.decided_at) if r.decided_at else None,
                result_ref=cmd.ref if executed and cmd else None,
            )
        )
    return out


def _said_and_errors(db: Session, session_id: str) -> tuple[list[Said], list[TurnError], datetime | None]:
    """Messages (with the findings an answer cites) and errors, read from the event log itself."""
    kinds = ("user_message", "message", "error")
    stmt = (
        select(store.EventRow)
        .where(store.EventRow.session_id == session_id, col(store.EventRow.type).in_(kinds))
        .order_by(col(store.EventRow.seq))
    )
    said, errors = [], []
    for row in db.exec(stmt):
        at, data = store.as_utc(row.created_at), row.data or {}
        if row.type == "error":
            errors.append(
                TurnError(at=at, message=str(data.get("message", "")), kind=str(data.get("kind", "error")))
            )
        else:
            said.append(
                Said(
                    at=at,
                    role="user" if row.type == "user_message" else "assistant",
                    text=str(data.get("text", "")),
                    finding_ids=list(data.get("finding_ids") or []),
                )
            )
    last = db.exec(
        select(store.EventRow.created_at)
        .where(store.EventRow.session_id == session_id)
        .order_by(col(store.EventRow.seq).desc())
        .limit(1)
    ).first()
    return said, errors, store.as_utc(last) if last else None


def _related(db: Session, session_id: str, signatures: list[str], limit: int = 10) -> list[RelatedSession]:
    """Other sessions that recorded a finding with one of these signatures (recurring incidents)."""
    if not signatures:
        return []
    stmt = (
        select(
            store.FindingRow.session_id,
            store.FindingRow.signature,
            store.SessionRow.title,
            store.SessionRow.created_at,
        )
        .join(store.SessionRow, col(store.SessionRow.id) == col(store.FindingRow.session_id))
        .where(col(store.FindingRow.signature).in_(signatures), store.FindingRow.session_id != session_id)
        .order_by(col(store.SessionRow.created_at).desc())
    )
    found: dict[str, RelatedSession] = {}
    for sid, sig, title, created in db.exec(stmt):
        item = found.get(sid)
        if item is None:
            if len(found) >= limit:
                continue
            item = found[sid] = RelatedSession(
                session_id=sid, title=title or "", created_at=store.as_utc(created), signatures=[]
            )
        if sig not in item.signatures:
            item.signatures.append(sig)
    return list(found.values())


def gather(engine: Engine, session_id: str) -> PirFacts:
    """Every stored fact the PIR is built from; NotFound for an unknown session. Blocking."""
    with store.reading(engine) as db:
        row = store.get_session(db, session_id=session_id)
        commands, outputs = _commands(db, session_id)
        findings = _findings(db, session_id, commands)
        approvals = _approvals(db, session_id, commands)
        said, errors, last = _said_and_errors(db, session_id)
        related = _related(db, session_id, list(dict.fromkeys(f.signature for f in findings)))
    session = SessionFacts(
        id=row.id,
        title=row.title,
        target=row.target,
        model=row.model,
        created_at=store.as_utc(row.created_at),
    )
    facts = PirFacts(
        session=session,
        said=said,
        commands=commands,
        findings=findings,
        approvals=approvals,
        errors=errors,
        related=related,
        last_event_at=last,
    )
    facts._outputs = outputs
    return facts
