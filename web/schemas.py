"""Request and response bodies of the JSON API (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.events import FindingFields
from assistant.store import ApprovalRow, FindingRow, SessionRow, ToolCallRow, as_utc

MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+\-]*$"
TARGET_PATTERN = r"^[a-z][a-z0-9-]*(:[A-Za-z0-9._@/\-:\[\]=,]+)?$"
"""`kind[:rest]`; the rest may hold `:` and `[…]` (`ssh:ops@[::1]:2222`) and `=,` (`nodes:role=web,env=prod`).
The target itself checks the details."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SessionCreate(Strict):
    target: str | None = Field(
        default=None,
        max_length=200,
        pattern=TARGET_PATTERN,
        description="e.g. sandbox:nginx-port-conflict, local, kubernetes:prod (see /api/targets)",
    )
    model: str | None = Field(
        default=None,
        max_length=200,
        pattern=MODEL_PATTERN,
        description="any litellm model string; default from settings",
    )
    title: str | None = Field(default=None, max_length=200)


class SessionPatch(Strict):
    title: str = Field(min_length=1, max_length=200)


class MessageIn(Strict):
    content: str = Field(min_length=1, description="what the engineer says; over max_message_chars -> 413")
    attachment: str | None = Field(
        default=None,
        description="a pasted log or stack trace, kept as a tool "
        "output 'pasted by the engineer' (capped at max_attachment_chars)",
    )


class ApprovalDecisionIn(Strict):
    decision: Literal["approve", "deny"]
    comment: str | None = Field(default=None, max_length=2000)
    by: str | None = Field(
        default=None,
        max_length=200,
        description="ignored: the decision is recorded under the authenticated identity",
    )


class TurnCloseIn(Strict):
    reason: str = Field(
        min_length=1, max_length=2000, description="why, for the session's log and the audit chain"
    )
    by: str | None = Field(default=None, max_length=200, description="who closes it (until auth names them)")


def _iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt is not None else None


class SessionOut(BaseModel):
    id: str
    title: str
    target: str
    model: str
    status: Literal["idle", "running"]
    last_seq: int
    running_turn_id: str | None = None
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: SessionRow, running_turn_id: str | None = None) -> SessionOut:
        return cls(
            id=row.id,
            title=row.title,
            target=row.target,
            model=row.model,
            status=row.status,
            last_seq=row.last_seq,
            running_turn_id=running_turn_id,
            created_at=_iso(row.created_at) or "",
            updated_at=_iso(row.updated_at) or "",
        )


class TurnAccepted(BaseModel):
    session_id: str
    turn_id: str


class TurnOut(BaseModel):
    id: str
    session_id: str
    status: str
    cancel_requested: bool
    started_at: str | None
    finished_at: str | None


class ToolCallOut(BaseModel):
    call_id: str
    turn_id: str | None
    tool: str
    args: dict[str, Any]
    command: str
    target: str
    risk: str
    started_at: str | None
    duration_ms: float | None
    exit_code: int | None
    ok: bool | None
    output: str | None
    truncated: bool
    error: str | None
    source: str | None
    output_sha256: str | None

    @classmethod
    def of(cls, r: ToolCallRow) -> ToolCallOut:
        data = r.model_dump(exclude={"id", "session_id", "started_at"})
        return cls(**data, started_at=_iso(r.started_at))


class FindingOut(FindingFields):
    """A finding as the API returns it: `FindingFields` (assistant/events.py) plus its turn, stored evidence and times."""

    turn_id: str | None
    evidence: list[dict[str, Any]]
    created_at: str | None
    resolved_at: str | None = None
    """When a verified fix showed the fault gone; null while it is open."""
    resolved_by: str | None = None
    """The call id of the re-check that verified it."""

    @classmethod
    def of(cls, r: FindingRow) -> FindingOut:
        data = r.model_dump(exclude={"id", "session_id", "created_at", "resolved_at"})
        return cls(**data, created_at=_iso(r.created_at), resolved_at=_iso(r.resolved_at))


class ApprovalOut(BaseModel):
    approval_id: str
    session_id: str
    turn_id: str | None
    call_id: str
    tool: str
    args: dict[str, Any]
    command: str
    target: str
    status: Literal["pending", "approved", "denied", "expired"]
    decided_by: str | None
    comment: str | None
    decided_at: str | None
    created_at: str | None

    @classmethod
    def of(cls, r: ApprovalRow) -> ApprovalOut:
        return cls(
            approval_id=r.id,
            session_id=r.session_id,
            turn_id=r.turn_id,
            call_id=r.call_id,
            tool=r.tool,
            args=r.args,
            command=r.command,
            target=r.target,
            status=r.status,
            decided_by=r.decided_by,
            comment=r.comment,
            decided_at=_iso(r.decided_at),
            created_at=_iso(r.created_at),
        )


class TargetOut(BaseModel):
    name: str
    kind: str
    title: str


class ModelsOut(BaseModel):
    default: str
    models: list[str]
    """Offered in the picker: the default, then settings.models."""
    hints: list[str]
    """Examples of other litellm model strings (need the provider's key or a local server)."""


class Health(BaseModel):
    ok: bool
    db: str
    version: str
