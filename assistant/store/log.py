"""The session event log: append with a gap-free per-session seq, read back in order.

Appending bumps `sessions.last_seq` with UPDATE ... RETURNING, which row-locks the
session (PostgreSQL) or holds the write lock (SQLite, BEGIN IMMEDIATE) until commit;
so concurrent appenders to one session queue up instead of colliding, and the
derived tables are updated in the same transaction. `append` retries the rare
unique-violation / busy / serialization failure with a fresh transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from assistant.events import Event, EventType
from assistant.store.db import writing
from assistant.store.errors import NotFound
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

RETRIES = 6


def lock_session(db: Session, *, session_id: str, bump_seq: bool | int = False) -> int:
    """Lock the session row for this transaction (and take the next seq, or the next N, when asked);
    return the (last) seq taken."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if bump_seq:
        values["last_seq"] = SessionRow.last_seq + int(bump_seq)
    stmt = sa.update(SessionRow).where(col(SessionRow.id) == session_id).values(**values)
    row = db.execute(stmt.returning(SessionRow.last_seq)).first()
    if row is None:
        raise NotFound("session", session_id)
    return int(row[0])


def append_event(db: Session, *, session_id: str, event: Event) -> Event:
    """Append `event` inside the caller's transaction; return it with seq, session_id and `at` set."""
    seq = lock_session(db, session_id=session_id, bump_seq=True)
    now = utcnow()
    data = event.data.model_dump(mode="json")
    db.execute(sa.insert(EventRow).values(session_id=session_id, seq=seq, type=event.type.value,
                                          turn_id=event.turn_id, data=data, created_at=now))
    derive = _DERIVE.get(event.type)
    if derive is not None:
        derive(db, session_id, event.turn_id, data, now)
    if event.type in (EventType.TOOL_RESULT, EventType.APPROVAL_DECIDED):
        from assistant.audit import record_event  # lazy: audit imports the store

        record_event(db, session_id, event.turn_id, event.type.value, data, now)
    return event.model_copy(update={"seq": seq, "session_id": session_id, "at": now.isoformat()})


def append(engine: Engine, *, session_id: str, event: Event) -> Event:
    """Append in a transaction of its own, retrying transient conflicts. Blocking: call it in a thread."""
    return append_many(engine, session_id=session_id, events=[event])[0]


def append_many(engine: Engine, *, session_id: str, events: list[Event]) -> list[Event]:
    """Append several events in one transaction (a burst of tokens), in order. Blocking."""
    for attempt in range(RETRIES):
        try:
            with writing(engine) as db:
                return _append_all(db, session_id, events)
        except (IntegrityError, OperationalError) as exc:
            if attempt == RETRIES - 1 or not _transient(exc):
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")


def _plain(event: Event) -> bool:
    """No derived rows and no audit entry: a run of these is stored with two statements, whatever its length."""
    return event.type not in _DERIVE and event.type not in (EventType.TOOL_RESULT, EventType.APPROVAL_DECIDED)


def _append_all(db: Session, session_id: str, events: list[Event]) -> list[Event]:
    out: list[Event] = []
    i = 0
    while i < len(events):
        j = i
        while j < len(events) and _plain(events[j]):
            j += 1
        if j - i >= 2:
            out += _append_plain(db, session_id, events[i:j])
            i = j
        else:
            out.append(append_event(db, session_id=session_id, event=events[i]))
            i += 1
    return out


def _append_plain(db: Session, session_id: str, events: list[Event]) -> list[Event]:
    """A burst of tokens: one seq reservation and one multi-row INSERT instead of two statements per event
    (on PostgreSQL each statement is a round trip, and a burst holds the session row meanwhile)."""
    last = lock_session(db, session_id=session_id, bump_seq=len(events))
    first, now = last - len(events) + 1, utcnow()
    db.execute(sa.insert(EventRow), [
        {"session_id": session_id, "seq": first + k, "type": ev.type.value, "turn_id": ev.turn_id,
         "data": ev.data.model_dump(mode="json"), "created_at": now} for k, ev in enumerate(events)])
    return [ev.model_copy(update={"seq": first + k, "session_id": session_id, "at": now.isoformat()})
            for k, ev in enumerate(events)]


def _transient(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("locked", "busy", "deadlock", "could not serialize"))


def list_events(db: Session, *, session_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
    """Events with seq > after, in order."""
    stmt = (select(EventRow).where(EventRow.session_id == session_id, EventRow.seq > after)
            .order_by(col(EventRow.seq)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [row_to_event(r) for r in db.exec(stmt)]


def row_to_event(row: EventRow) -> Event:
    at = row.created_at
    return Event.from_json({"type": row.type, "seq": row.seq, "session_id": row.session_id,
                            "turn_id": row.turn_id, "at": as_utc(at).isoformat() if at else None, "data": row.data})


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    from datetime import UTC

    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# ------------------------------------------------------------ derived tables

Derive = Callable[[Session, str, str | None, dict[str, Any], datetime], None]


def _message(role: str) -> Derive:
    def derive(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
        db.execute(sa.insert(MessageRow).values(session_id=sid, turn_id=turn_id, role=role, text=d["text"],
                                                created_at=now))
        if role == "user":  # an untitled session is named after its first question
            db.execute(sa.update(SessionRow).where((col(SessionRow.id) == sid) & (col(SessionRow.title) == ""))
                       .values(title=_title_from(d["text"])))
    return derive


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:79].rstrip() + "…"


def _tool_call(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    values = {"tool": d["tool"], "args": d.get("args") or {}, "command": d.get("command") or "",
              "target": d.get("target") or "", "risk": d.get("risk") or "read"}
    _upsert_call(db, sid, turn_id, d["call_id"], values, now)


def _tool_result(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    values = {"tool": d["tool"], "duration_ms": d.get("duration_ms"), "exit_code": d.get("exit_code"),
              "ok": d.get("ok"), "output": d.get("output") or "", "truncated": bool(d.get("truncated")),
              "error": d.get("error"), "source": d.get("source"), "output_sha256": d.get("output_sha256")}
    if d.get("command"):
        values["command"] = d["command"]
    if d.get("started_at"):
        try:
            values["started_at"] = datetime.fromisoformat(d["started_at"])
        except ValueError:
            pass
    _upsert_call(db, sid, turn_id, d["call_id"], values, now)


def _upsert_call(db: Session, sid: str, turn_id: str | None, call_id: str, values: dict[str, Any],
                 now: datetime) -> None:
    where = (col(ToolCallRow.session_id) == sid) & (col(ToolCallRow.call_id) == call_id)
    if db.execute(sa.update(ToolCallRow).where(where).values(**values)).rowcount:
        return
    base = {"args": {}, "command": "", "target": "", "risk": "read", "truncated": False, "started_at": now}
    db.execute(sa.insert(ToolCallRow).values(**{**base, **values, "session_id": sid, "turn_id": turn_id,
                                                "call_id": call_id}))


def _finding(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    values = {k: d.get(k) for k in ("signature", "title", "severity", "confidence", "remediation")}
    values.update(evidence=d.get("evidence") or [], next_checks=d.get("next_checks") or [],
                  facts=d.get("facts") or {}, turn_id=turn_id)
    where = (col(FindingRow.session_id) == sid) & (col(FindingRow.finding_id) == d["finding_id"])
    if not db.execute(sa.update(FindingRow).where(where).values(**values)).rowcount:
        db.execute(sa.insert(FindingRow).values(**values, session_id=sid, finding_id=d["finding_id"],
                                                created_at=now))


def upsert_approval(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    """A pending approval row for an approval_required payload (idempotent: the approver may get there first)."""
    if db.get(ApprovalRow, d["approval_id"]) is not None:
        return
    db.execute(sa.insert(ApprovalRow).values(
        id=d["approval_id"], session_id=sid, turn_id=turn_id, call_id=d.get("call_id") or "", tool=d["tool"],
        args=d.get("args") or {}, command=d.get("command") or "", target=d.get("target") or "",
        risk=d.get("risk") or "write", reason=d.get("reason") or "", status="pending", created_at=now))


def _approval_decided(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    status = "approved" if d["decision"] == "approve" else "denied"
    where = (col(ApprovalRow.id) == d["approval_id"]) & (col(ApprovalRow.status) == "pending")
    db.execute(sa.update(ApprovalRow).where(where).values(status=status, decided_by=d.get("by"),
                                                          comment=d.get("comment"), decided_at=now))


def _turn_finished(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    """The turn is over exactly when its turn_finished is in the log: close it and free the session."""
    if turn_id:
        db.execute(sa.update(TurnRow).where(col(TurnRow.id) == turn_id)
                   .values(status=d.get("status") or "completed", finished_at=now))
        db.execute(sa.update(ApprovalRow)
                   .where((col(ApprovalRow.turn_id) == turn_id) & (col(ApprovalRow.status) == "pending"))
                   .values(status="expired", decided_at=now))
    db.execute(sa.update(SessionRow).where(col(SessionRow.id) == sid).values(status="idle"))


_DERIVE: dict[EventType, Derive] = {
    EventType.USER_MESSAGE: _message("user"),
    EventType.MESSAGE: _message("assistant"),
    EventType.TOOL_CALL: _tool_call,
    EventType.TOOL_RESULT: _tool_result,
    EventType.FINDING: _finding,
    EventType.APPROVAL_REQUIRED: upsert_approval,
    EventType.APPROVAL_DECIDED: _approval_decided,
    EventType.TURN_FINISHED: _turn_finished,
}
