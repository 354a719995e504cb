"""Every table, in one place. Created and altered only by `migrations.py`; these classes describe them for queries.

`events` is the append-only source of truth; `messages`, `tool_calls`, `findings`
and `approvals` are derived from it in the same transaction (see `log.py`) so the
API can answer "what ran, what was found" without replaying the log. `audit_log` and
`audit_head` hold the hash chain (store/audit.py), `pir_drafts` the post-incident reviews
(pir/drafts.py), `nodes` and `node_calls` the enrolled hosts and the calls relayed to them
(nodes/registry.py, nodes/relay.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column, DateTime, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from assistant.events import FindingFields, Severity


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), **kw))


def _opt_ts() -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"

    id: str = Field(primary_key=True, max_length=64)
    title: str = Field(default="", max_length=200)
    target: str = Field(max_length=200)
    model: str = Field(max_length=200)
    status: str = Field(default="idle", max_length=16)
    last_seq: int = Field(default=0)
    """The per-session event counter; bumped with UPDATE ... RETURNING when an event is appended."""
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class TurnRow(SQLModel, table=True):
    __tablename__ = "turns"

    id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=64)
    status: str = Field(default="running", max_length=16)
    cancel_requested: bool = Field(default=False)
    started_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _opt_ts()
    owner_host: str = Field(default="", max_length=255)
    owner_pid: int = Field(default=0)
    owner_boot: str = Field(default="", max_length=64)
    """Boot id + process start time: tells a live owner from a reused pid after a reboot or crash."""
    owner_replica: str | None = Field(default=None, max_length=36)
    """The replica (process uuid) whose lease covers this turn; only it may append the turn's events."""


class ReplicaRow(SQLModel, table=True):
    """A process that runs turns, and its heartbeat: the lease on every turn it owns (store/lease.py)."""

    __tablename__ = "replicas"

    id: str = Field(primary_key=True, max_length=36)
    host: str = Field(default="", max_length=255)
    pid: int = 0
    boot: str = Field(default="", max_length=64)
    pid_ns: str = Field(default="", max_length=64)
    started_at: float = 0.0
    heartbeat_at: float = 0.0
    """Seconds since the epoch by the database's clock, so replicas' clocks never disagree about a lease."""


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_events_session_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=64)
    seq: int
    type: str = Field(max_length=32)
    turn_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = _json(dict)
    created_at: datetime = _ts(nullable=False)


class MessageRow(SQLModel, table=True):
    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    role: str = Field(max_length=16)
    text: str
    created_at: datetime = _ts(nullable=False)


class ToolCallRow(SQLModel, table=True):
    """The command trail: every tool call, what it ran, what came back."""

    __tablename__ = "tool_calls"
    __table_args__ = (UniqueConstraint("session_id", "call_id", name="uq_tool_calls_session_call"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    call_id: str = Field(max_length=128)
    tool: str = Field(max_length=64)
    args: dict[str, Any] = _json(dict)
    command: str = ""
    target: str = Field(default="", max_length=200)
    risk: str = Field(default="read", max_length=16)
    started_at: datetime = _ts(nullable=False)
    duration_ms: float | None = None
    exit_code: int | None = None
    ok: bool | None = None
    output: str | None = None
    truncated: bool = False
    error: str | None = None
    source: str | None = Field(default=None, max_length=64)
    output_sha256: str | None = Field(default=None, max_length=64)


class FindingRow(FindingFields, SQLModel, table=True):
    """A finding event, derived into a row (store/derive.py). Its fields are `FindingFields` (assistant/events.py);
    here only their columns, and what a row adds."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("session_id", "finding_id", name="uq_findings_session_finding"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    finding_id: str = Field(max_length=128)
    signature: str = Field(max_length=128)
    severity: Severity = Field(sa_column=Column(String(16), nullable=False))
    evidence: list[dict[str, Any]] = _json(list)
    """The event's evidence, as stored JSON."""
    next_checks: list[str] = _json(list)
    facts: dict[str, Any] = _json(dict)
    created_at: datetime = _ts(nullable=False)
    resolved_at: datetime | None = _opt_ts()
    """Set when a verified fix showed the fault gone (a finding_resolved event)."""
    resolved_by: str | None = Field(default=None, max_length=128)
    """The call id of the re-check that no longer showed it."""


class ApprovalRow(SQLModel, table=True):
    __tablename__ = "approvals"

    id: str = Field(primary_key=True, max_length=128)
    session_id: str = Field(foreign_key="sessions.id", index=True, max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    call_id: str = Field(default="", max_length=128)
    tool: str = Field(max_length=64)
    args: dict[str, Any] = _json(dict)
    command: str = ""
    target: str = Field(default="", max_length=200)
    risk: str = Field(default="write", max_length=16)
    reason: str = ""
    status: str = Field(default="pending", max_length=16)
    """pending, approved, denied or expired (its turn ended before anyone decided)."""
    decided_by: str | None = Field(default=None, max_length=200)
    comment: str | None = None
    decided_at: datetime | None = _opt_ts()
    created_at: datetime = _ts(nullable=False)


class UserRow(SQLModel, table=True):
    """A person (or a bot) with a role and a bearer token; only the token's SHA-256 is stored."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=16)
    """viewer, responder, approver or admin (assistant/identity.py)."""
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts(nullable=False)
    disabled_at: datetime | None = _opt_ts()


GENESIS = "0" * 64
"""The `prev_hash` of the audit chain's first entry."""


class AuditRow(SQLModel, table=True):
    """One audit entry. Columns are what a SIEM filters on; `detail` holds the rest."""

    __tablename__ = "audit_log"

    id: int = Field(primary_key=True)
    """Position in the chain: 1, 2, 3... with no gaps (a gap is a deleted entry)."""
    at: str = Field(max_length=32)
    """UTC, ISO 8601 with microseconds and Z; sorts as text."""
    kind: str = Field(max_length=32)
    session_id: str = Field(max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    actor: str = Field(default="", max_length=200)
    target: str = Field(default="", max_length=200)
    tool: str = Field(default="", max_length=64)
    call_id: str | None = Field(default=None, max_length=128)
    approval_id: str | None = Field(default=None, max_length=128)
    command: str = ""
    exit_code: int | None = None
    duration_ms: float | None = None
    output_sha256: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The single row naming the last entry (id 1); locking it serializes appends."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS, max_length=64)


# ------------------------------------------------------------------ post-incident reviews (m002)


class PirDraftRow(SQLModel, table=True):
    """One version of a session's post-incident review (assistant/pir/drafts.py); never overwritten."""

    __tablename__ = "pir_drafts"
    __table_args__ = (UniqueConstraint("session_id", "version", name="uq_pir_drafts_session_version"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=64)
    version: int
    created_at: datetime = _ts(nullable=False)
    model: str = Field(max_length=200)
    """The model that drafted the narrative sections ('rules' when none did)."""
    markdown: str
    """Exactly what `firstline pir` prints and the .md download serves (already redacted)."""
    data: dict[str, Any] = _json(dict)
    """The facts, narrative and edits the Markdown was rendered from (`firstline pir --json`)."""


# ------------------------------------------------------------------ nodes (m005): enrolled hosts and calls relayed to them


class NodeRow(SQLModel, table=True):
    """One enrolled node. The token itself is never stored: only its id and a SHA-256 of its secret."""

    __tablename__ = "nodes"

    name: str = Field(primary_key=True, max_length=64)
    labels: dict[str, str] = _json(dict)
    token_id: str = Field(max_length=32)
    token_hash: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _opt_ts()
    facts: dict[str, Any] = _json(dict)
    """OS, kernel, systemd, hostname, as the node last reported them."""
    policy: dict[str, Any] = _json(dict)
    """What the node said it allows (tools, read_only); the node enforces it, the server offers only that."""
    version: str = Field(default="", max_length=32)
    connected: bool = False
    replica: str = Field(default="", max_length=128)
    """The server process holding its connection (host:pid:boot), when connected."""
    last_seen: datetime | None = _opt_ts()


class NodeCallRow(SQLModel, table=True):
    """A tool call for a node held by another replica; the relay's mailbox (see relay.py)."""

    __tablename__ = "node_calls"

    id: str = Field(primary_key=True, max_length=64)
    node: str = Field(max_length=64)
    tool: str = Field(max_length=64)
    args: dict[str, Any] = _json(dict)
    approval: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    timeout_s: float = 15.0
    status: str = Field(default="pending", max_length=16)
    """pending -> running -> done, or expired (the caller gave up)."""
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    claimed_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _opt_ts()


# ------------------------------------------------------------------ the same tables for SQLAlchemy Core


def _core(model: type[SQLModel]) -> sa.Table:
    table: sa.Table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it on every table class
    return table


SESSIONS, TURNS, REPLICAS, EVENTS = _core(SessionRow), _core(TurnRow), _core(ReplicaRow), _core(EventRow)
MESSAGES, TOOL_CALLS, FINDINGS, APPROVALS = (
    _core(MessageRow),
    _core(ToolCallRow),
    _core(FindingRow),
    _core(ApprovalRow),
)
AUDIT_LOG, AUDIT_HEAD, NODE_CALLS = _core(AuditRow), _core(AuditHead), _core(NodeCallRow)
"""Core tables for the hot paths (appending, deriving, chaining, relaying), where ORM-enabled statements cost
several times more Python per call."""
