"""The closed vocabulary of events a turn emits.

The agent loop yields these; the CLI prints them, the server persists and streams
them (SSE `event` = type, `data` = payload JSON), the eval runner scores them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SkipValidation, ValidationInfo, field_validator, model_validator

from tools.base import ToolStatus


class EventType(str, enum.Enum):
    USER_MESSAGE = "user_message"
    TURN_STARTED = "turn_started"
    TOKEN = "token"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    FINDING = "finding"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DECIDED = "approval_decided"
    MESSAGE = "message"
    ERROR = "error"
    TURN_FINISHED = "turn_finished"
    FINDING_RESOLVED = "finding_resolved"


class UserMessage(BaseModel):
    text: str
    author: str = "user"


class TurnStarted(BaseModel):
    model: str
    target: str


class Token(BaseModel):
    text: str


class ToolCall(BaseModel):
    call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    command: str = ""
    target: str = ""
    risk: str = "read"
    from_text: bool = False
    """The model wrote this call as JSON in its reply text (no native tool calling); parsed by the loop."""


class ToolResultEvent(BaseModel):
    call_id: str
    tool: str
    ok: bool
    status: ToolStatus = "ok"
    """How the call ended (tools.base.ToolStatus); events stored before it existed read as ok/error."""

    @model_validator(mode="before")
    @classmethod
    def _status_of_older_events(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" not in data and data.get("ok") is False:
            return {**data, "status": "error"}
        return data

    exit_code: int | None = None
    duration_ms: float = 0.0
    truncated: bool = False
    excerpt: str = ""
    output: str = ""
    command: str = ""
    error: str | None = None
    source: str | None = None
    cached: bool = False
    started_at: str | None = None
    output_sha256: str | None = None
    """SHA-256 of the full output before capping (ToolResult.output_sha256), for the command trail."""
    host: str | None = None
    """The member of a multi-host target the call ran on."""
    remote: dict[str, Any] | None = None
    """The node (name, token id, replica) that ran it, for the audit trail."""


class Evidence(BaseModel):
    call_id: str
    tool: str
    command: str = ""
    lines: list[str]
    """Exact lines from that call's output (each a substring of it)."""


class NextCheck(BaseModel):
    """A read check a finding suggests, typed (tool + arguments) so nobody parses it back out of text."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


Severity = Literal["critical", "high", "medium", "low", "info"]


class FindingFields(BaseModel):
    """What a finding says, declared once. The event (`Finding`), its row (store/models.py `FindingRow`), the
    API's shape (web/schemas.py `FindingOut`) and the PIR's (pir/data.py `FindingFacts`) all extend it; each
    adds only what it alone has (evidence in its own form, ids, times)."""

    finding_id: str
    signature: str
    """Stable kind of failure, e.g. 'port-in-use'; groups recurring incidents."""
    title: str
    severity: Severity = "high"
    confidence: float = 0.8
    next_checks: list[str] = Field(default_factory=list)
    """The same checks as `checks`, written as calls for people (`port_owner(port=80)`)."""
    remediation: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    """Structured facts the analyzer extracted (port, pid, process, exit code...)."""


class Finding(FindingFields):
    """A finding as an analyzer emits it: the fields, the exact lines that prove it, and typed next steps."""

    evidence: list[Evidence] = Field(default_factory=list)
    checks: list[NextCheck] = Field(default_factory=list)
    """What to check next, typed: the runbook follows these."""
    fixes: list[NextCheck] = Field(default_factory=list)
    """The write calls the remediation names, typed (each still needs approval)."""


class ApprovalRequired(BaseModel):
    approval_id: str
    call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    command: str = ""
    target: str = ""
    risk: str = "write"
    reason: str = ""


class ApprovalDecided(BaseModel):
    approval_id: str
    decision: Literal["approve", "deny"]
    by: str = "user"
    comment: str | None = None
    expired: bool = False
    """Nobody decided within `approval_timeout_s`: recorded as a denial by firstline, shown as expired."""


class FindingResolved(BaseModel):
    """A finding's fault is gone: after an approved write, the same check no longer shows it."""

    finding_id: str
    signature: str
    title: str = ""
    fix_call_id: str
    """The approved write action that fixed it."""
    fix_command: str = ""
    verify_call_id: str
    """The re-check whose output no longer yields the finding."""
    verify_command: str = ""


class Message(BaseModel):
    text: str
    finding_ids: list[str] = Field(default_factory=list)


class Error(BaseModel):
    message: str
    kind: str = "error"
    hint: str | None = None


class TurnFinished(BaseModel):
    status: Literal["completed", "error", "cancelled", "budget", "interrupted"] = "completed"
    steps: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    wall_ms: float = 0.0


EventData = (
    UserMessage
    | TurnStarted
    | Token
    | ToolCall
    | ToolResultEvent
    | Finding
    | ApprovalRequired
    | ApprovalDecided
    | Message
    | Error
    | TurnFinished
    | FindingResolved
)
"""Every payload an event may carry; which one is decided by the event's `type` (`PAYLOADS`)."""

PAYLOADS: dict[EventType, type[EventData]] = {
    EventType.USER_MESSAGE: UserMessage,
    EventType.TURN_STARTED: TurnStarted,
    EventType.TOKEN: Token,
    EventType.TOOL_CALL: ToolCall,
    EventType.TOOL_RESULT: ToolResultEvent,
    EventType.FINDING: Finding,
    EventType.APPROVAL_REQUIRED: ApprovalRequired,
    EventType.APPROVAL_DECIDED: ApprovalDecided,
    EventType.MESSAGE: Message,
    EventType.ERROR: Error,
    EventType.TURN_FINISHED: TurnFinished,
    EventType.FINDING_RESOLVED: FindingResolved,
}
_TYPE_OF: dict[type[EventData], EventType] = {v: k for k, v in PAYLOADS.items()}
P = TypeVar("P", bound=EventData)


class Event(BaseModel):
    """One event of a turn. `seq` is set when the store appends it to the session's log.

    `data` is discriminated by `type`: validating `{"type": "token", "data": {...}}` builds a `Token`, and an
    event whose payload is not its type's is refused. Readers narrow with `isinstance(event.data, Token)`
    (one payload class per type) or take a type's payloads with `payloads(events, Token)`."""

    type: EventType
    data: SkipValidation[EventData]
    """Validated by `_data_of_its_type` as the one payload `type` names (the union is for type checkers)."""
    turn_id: str | None = None
    session_id: str | None = None
    seq: int | None = None
    at: str | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _data_of_its_type(cls, data: Any, info: ValidationInfo) -> EventData:
        """`data` as the payload `type` names (not the first union member that happens to fit)."""
        if "type" not in info.data:  # the type itself was invalid: pydantic reports that
            raise ValueError("no valid event type to read the data by")
        etype: EventType = info.data["type"]
        kind = PAYLOADS[etype]
        if isinstance(data, kind):
            return data
        if isinstance(data, BaseModel):
            raise ValueError(f"a {etype.value} event carries {type(data).__name__}, not {kind.__name__}")
        return kind.model_validate(data)

    @classmethod
    def of(cls, data: EventData, turn_id: str | None = None) -> Event:
        return cls(type=_TYPE_OF[type(data)], data=data, turn_id=turn_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "seq": self.seq,
            "session_id": self.session_id,
            "turn_id": self.turn_id,
            "at": self.at,
            "data": self.data.model_dump(mode="json"),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        return cls(
            type=obj["type"],
            data=obj["data"],
            turn_id=obj.get("turn_id"),
            session_id=obj.get("session_id"),
            seq=obj.get("seq"),
            at=obj.get("at"),
        )


def payloads(events: Iterable[Event], kind: type[P]) -> list[P]:
    """The payloads of one type among `events`, in order, typed (`payloads(events, TurnFinished)`)."""
    return [e.data for e in events if isinstance(e.data, kind)]
