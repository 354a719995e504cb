"""Sessions, turns and approvals: the rows around the event log.

Every function takes the DB session first and everything else by keyword; the caller
owns the transaction (`db.writing(engine)` / `db.reading(engine)`).
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlmodel import Session, col, select

from assistant.events import ApprovalRequired
from assistant.store.derive import upsert_approval
from assistant.store.errors import Conflict, NotFound
from assistant.store.lease import touch
from assistant.store.log import lock_session
from assistant.store.models import (
    ApprovalRow,
    EventRow,
    FindingRow,
    MessageRow,
    SessionRow,
    ToolCallRow,
    TurnRow,
    utcnow,
)
from assistant.store.owner import Owner
from assistant.store.pg_notify import ring_turn


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


# ------------------------------------------------------------ sessions


def create_session(db: Session, *, target: str, model: str, title: str = "") -> SessionRow:
    row = SessionRow(id=new_id("s"), title=title, target=target, model=model)
    db.add(row)
    db.flush()
    return row


def get_session(db: Session, *, session_id: str) -> SessionRow:
    row = db.get(SessionRow, session_id)
    if row is None:
        raise NotFound("session", session_id)
    return row


def list_sessions(db: Session, *, limit: int = 100, offset: int = 0) -> list[SessionRow]:
    stmt = select(SessionRow).order_by(col(SessionRow.updated_at).desc(), col(SessionRow.id)).offset(offset)
    return list(db.exec(stmt.limit(limit)))


def rename_session(db: Session, *, session_id: str, title: str) -> SessionRow:
    lock_session(db, session_id=session_id)
    row = get_session(db, session_id=session_id)
    row.title = title
    db.add(row)
    db.flush()
    return row


def delete_session(db: Session, *, session_id: str) -> None:
    """Delete a session and everything derived from it; refused while a turn runs."""
    lock_session(db, session_id=session_id)
    row = get_session(db, session_id=session_id)
    if row.status == "running":
        raise Conflict(f"session {session_id!r} has a running turn; cancel it first")
    for table in (EventRow, MessageRow, ToolCallRow, FindingRow, ApprovalRow, TurnRow):
        db.execute(sa.delete(table).where(col(table.session_id) == session_id))
    db.execute(sa.delete(SessionRow).where(col(SessionRow.id) == session_id))


# ------------------------------------------------------------ turns


def begin_turn(db: Session, *, session_id: str, owner: Owner) -> TurnRow:
    """Mark the session running and open a turn under `owner`'s lease (renewed here, so a turn is never without
    one); Conflict if one is already running (atomic)."""
    flipped = db.execute(
        sa.update(SessionRow)
        .where((col(SessionRow.id) == session_id) & (col(SessionRow.status) == "idle"))
        .values(status="running", updated_at=utcnow())
    ).rowcount
    if not flipped:
        get_session(db, session_id=session_id)  # raises NotFound when absent
        raise Conflict(f"session {session_id!r} already has a running turn")
    turn = TurnRow(
        id=new_id("t"),
        session_id=session_id,
        owner_host=owner.host,
        owner_pid=owner.pid,
        owner_boot=owner.boot,
        owner_replica=owner.replica or None,
    )
    if owner.replica:
        touch(db, owner)
    db.add(turn)
    db.flush()
    return turn


def get_turn(db: Session, *, session_id: str, turn_id: str) -> TurnRow:
    row = db.get(TurnRow, turn_id)
    if row is None or row.session_id != session_id:
        raise NotFound("turn", turn_id)
    return row


def request_cancel(db: Session, *, session_id: str, turn_id: str) -> TurnRow:
    """Flag the turn; its driver (in whichever process) notices when woken (PostgreSQL NOTIFY) or polls."""
    row = get_turn(db, session_id=session_id, turn_id=turn_id)
    if row.status != "running":
        raise Conflict(f"turn {turn_id!r} is not running (status {row.status})")
    db.execute(sa.update(TurnRow).where(col(TurnRow.id) == turn_id).values(cancel_requested=True))
    ring_turn(db, turn_id)
    row.cancel_requested = True
    return row


def cancel_requested(db: Session, *, turn_id: str) -> bool:
    return bool(db.execute(sa.select(TurnRow.cancel_requested).where(col(TurnRow.id) == turn_id)).scalar())


def cancels_requested(db: Session, *, turn_ids: list[str], owner: str | None = None) -> list[str]:
    """Which of these turns someone asked to cancel (one query for all of a process's running turns); with
    `owner`, also those no longer running under that replica (closed elsewhere: their driver must stop)."""
    if not turn_ids:
        return []
    stop = col(TurnRow.cancel_requested)
    if owner is not None:
        stop = stop | (col(TurnRow.status) != "running") | (col(TurnRow.owner_replica) != owner)
    stmt = sa.select(TurnRow.id).where(col(TurnRow.id).in_(turn_ids), stop)
    return [row[0] for row in db.execute(stmt)]


def running_turns(db: Session) -> list[TurnRow]:
    return list(db.exec(select(TurnRow).where(TurnRow.status == "running")))


def turn_statuses(db: Session, *, session_id: str) -> list[TurnRow]:
    return list(
        db.exec(select(TurnRow).where(TurnRow.session_id == session_id).order_by(col(TurnRow.started_at)))
    )


# ------------------------------------------------------------ derived views


def list_tool_calls(db: Session, *, session_id: str) -> list[ToolCallRow]:
    get_session(db, session_id=session_id)
    return list(
        db.exec(select(ToolCallRow).where(ToolCallRow.session_id == session_id).order_by(col(ToolCallRow.id)))
    )


def list_findings(db: Session, *, session_id: str) -> list[FindingRow]:
    get_session(db, session_id=session_id)
    return list(
        db.exec(select(FindingRow).where(FindingRow.session_id == session_id).order_by(col(FindingRow.id)))
    )


def list_messages(db: Session, *, session_id: str) -> list[MessageRow]:
    get_session(db, session_id=session_id)
    return list(
        db.exec(select(MessageRow).where(MessageRow.session_id == session_id).order_by(col(MessageRow.id)))
    )


# ------------------------------------------------------------ approvals


def ensure_approval(
    db: Session, *, session_id: str, turn_id: str | None, request: ApprovalRequired
) -> ApprovalRow:
    """The pending row for `request` (created if absent). Locks the session so it never races an append."""
    lock_session(db, session_id=session_id)
    upsert_approval(db, session_id, turn_id, request.model_dump(mode="json"), utcnow())
    row = db.get(ApprovalRow, request.approval_id)
    assert row is not None
    return row


def get_approval(db: Session, *, session_id: str, approval_id: str) -> ApprovalRow:
    row = db.get(ApprovalRow, approval_id)
    if row is None or row.session_id != session_id:
        raise NotFound("approval", approval_id)
    return row


def decide_approval(
    db: Session, *, session_id: str, approval_id: str, decision: str, by: str, comment: str | None = None
) -> ApprovalRow:
    """Record a person's decision once; a second decision (or one on an expired request) is a Conflict."""
    if decision not in ("approve", "deny"):
        raise ValueError("decision must be 'approve' or 'deny'")
    row = get_approval(db, session_id=session_id, approval_id=approval_id)
    status = "approved" if decision == "approve" else "denied"
    done = db.execute(
        sa.update(ApprovalRow)
        .where((col(ApprovalRow.id) == approval_id) & (col(ApprovalRow.status) == "pending"))
        .values(status=status, decided_by=by, comment=comment, decided_at=utcnow())
    ).rowcount
    if not done:
        raise Conflict(f"approval {approval_id!r} is already {row.status}")
    db.refresh(row)
    ring_turn(db, row.turn_id)  # the waiting turn, on whichever replica, reads it at once
    return row


def expire_approval(db: Session, *, approval_id: str, comment: str | None = None) -> bool:
    """Mark a still-pending approval expired (by firstline); False if someone decided it meanwhile."""
    return bool(
        db.execute(
            sa.update(ApprovalRow)
            .where((col(ApprovalRow.id) == approval_id) & (col(ApprovalRow.status) == "pending"))
            .values(status="expired", decided_by="firstline", comment=comment, decided_at=utcnow())
        ).rowcount
    )


def claim_orphan(db: Session, *, session_id: str, turn_id: str) -> bool:
    """Take over closing a turn whose process died; False if it is no longer running (someone else closed it)."""
    lock_session(db, session_id=session_id)
    return bool(
        db.execute(
            sa.update(TurnRow)
            .where((col(TurnRow.id) == turn_id) & (col(TurnRow.status) == "running"))
            .values(status="interrupted", finished_at=utcnow())
        ).rowcount
    )


def list_approvals(db: Session, *, session_id: str) -> list[ApprovalRow]:
    get_session(db, session_id=session_id)
    return list(
        db.exec(
            select(ApprovalRow)
            .where(ApprovalRow.session_id == session_id)
            .order_by(col(ApprovalRow.created_at))
        )
    )
