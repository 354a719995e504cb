"""The session event log: append with a gap-free per-session seq, read back in order.

Appending bumps `sessions.last_seq` with UPDATE ... RETURNING, which row-locks the
session (PostgreSQL) or holds the write lock (SQLite, BEGIN IMMEDIATE) until commit;
so concurrent appenders to one session queue up instead of colliding, and the
derived tables are updated in the same transaction. One transaction may carry the
events of many sessions (`append_batch`, the server's group commit). Appends retry
the rare unique-violation / busy / serialization failure with a fresh transaction.
An append on behalf of a replica (`owner`) is fenced: it is refused unless every turn it
writes is still running under that replica's lease (`lease.check_fence`). On PostgreSQL the
transaction also NOTIFYs each session's new last seq, delivered only if it commits.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from assistant.events import Event
from assistant.store.audit import AUDITED, append_entries, audit_entries
from assistant.store.db import writing
from assistant.store.derive import derive
from assistant.store.errors import NotFound
from assistant.store.lease import check_fence
from assistant.store.models import EVENTS, SESSIONS, utcnow
from assistant.store.pg_notify import announce
from assistant.store.rows import row_to_event

RETRIES = 6
"""A Core table: the append path is hot, and ORM-enabled statements cost several times more Python per call."""


def lock_session(db: Session, *, session_id: str, bump_seq: bool | int = False) -> int:
    """Lock the session row for this transaction (and take the next seq, or the next N, when asked);
    return the (last) seq taken."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if bump_seq:
        values["last_seq"] = SESSIONS.c.last_seq + int(bump_seq)
    stmt = sa.update(SESSIONS).where(SESSIONS.c.id == session_id).values(**values)
    row = db.execute(stmt.returning(SESSIONS.c.last_seq)).first()
    if row is None:
        raise NotFound("session", session_id)
    return int(row[0])


def append_event(db: Session, *, session_id: str, event: Event) -> Event:
    """Append `event` inside the caller's transaction; return it with seq, session_id and `at` set."""
    return write_batch(db, {session_id: [event]})[session_id][0]


def append(engine: Engine, *, session_id: str, event: Event) -> Event:
    """Append in a transaction of its own, retrying transient conflicts. Blocking: call it in a thread."""
    return append_many(engine, session_id=session_id, events=[event])[0]


def append_many(engine: Engine, *, session_id: str, events: list[Event]) -> list[Event]:
    """Append several events of one session in one transaction, in order. Blocking."""
    return append_batch(engine, {session_id: events})[session_id]


def append_batch(
    engine: Engine, batch: dict[str, list[Event]], *, owner: str | None = None
) -> dict[str, list[Event]]:
    """Append the events of several sessions in one transaction (group commit), each session's in order,
    retrying transient conflicts. All or nothing. Blocking. `owner`: fenced to that replica's turns."""
    for attempt in range(RETRIES):
        try:
            with writing(engine) as db:
                return write_batch(db, batch, owner=owner)
        except (IntegrityError, OperationalError) as exc:
            if attempt == RETRIES - 1 or not _transient(exc):
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")


def write_batch(
    db: Session, batch: dict[str, list[Event]], *, owner: str | None = None
) -> dict[str, list[Event]]:
    """Inside the caller's transaction, in a handful of statements however many events: reserve every
    session's seqs with one UPDATE (locking the sessions), check the fence when written for `owner`, update
    the derived tables a statement per kind, chain the audit entries under one lock of the audit head, and
    last insert all events with one multi-row INSERT, stamped `at` then (so `at` is when the event entered
    the log, just before it is committed)."""
    counts = {sid: len(events) for sid, events in batch.items() if events}
    if not counts:
        return {sid: [] for sid in batch}
    last = reserve_seqs(db, counts)
    if owner is not None:
        check_fence(db, owner, {ev.turn_id for sid in counts for ev in batch[sid] if ev.turn_id})
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for sid, n in counts.items():
        first = last[sid] - n + 1
        rows += [
            {
                "session_id": sid,
                "seq": first + k,
                "type": ev.type.value,
                "turn_id": ev.turn_id,
                "data": ev.data.model_dump(mode="json"),
            }
            for k, ev in enumerate(batch[sid])
        ]
    derive(db, rows, now)
    if any(row["type"] in AUDITED for row in rows):
        append_entries(db, audit_entries(db, rows, now))
    at = utcnow()
    for row in rows:
        row["created_at"] = at
    db.execute(sa.insert(EVENTS), rows)
    announce(db, {sid: (last[sid] - n + 1, last[sid]) for sid, n in counts.items()})
    stamp = at.isoformat()
    stored: dict[str, list[Event]] = {sid: [] for sid in batch}
    for sid, n in counts.items():
        first = last[sid] - n + 1
        stored[sid] = [
            ev.model_copy(update={"seq": first + k, "session_id": sid, "at": stamp})
            for k, ev in enumerate(batch[sid])
        ]
    return stored


def reserve_seqs(db: Session, counts: dict[str, int]) -> dict[str, int]:
    """Take the next `counts[sid]` seqs of each session, locking the rows until commit (SELECT ... FOR UPDATE
    in id order, so two processes' batches take them in the same order; SQLite's write lock is held already),
    then one executemany UPDATE. Returns each session's last seq taken; NotFound if a session does not exist."""
    if len(counts) == 1:
        ((sid, n),) = counts.items()
        return {sid: lock_session(db, session_id=sid, bump_seq=n)}
    ids = sorted(counts)
    current = dict(
        db.execute(
            sa.select(SESSIONS.c.id, SESSIONS.c.last_seq)
            .where(SESSIONS.c.id.in_(ids))
            .order_by(SESSIONS.c.id)
            .with_for_update()
        ).all()
    )
    for sid in ids:
        if sid not in current:
            raise NotFound("session", sid)
    last = {sid: int(current[sid]) + counts[sid] for sid in ids}
    db.execute(
        sa.update(SESSIONS)
        .where(SESSIONS.c.id == sa.bindparam("sid"))
        .values(last_seq=sa.bindparam("new_last"), updated_at=utcnow()),
        [{"sid": sid, "new_last": last[sid]} for sid in ids],
    )
    return last


def _transient(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("locked", "busy", "deadlock", "could not serialize"))


def list_events(db: Session, *, session_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
    """Events with seq > after, in order."""
    stmt = (
        sa.select(
            EVENTS.c.type,
            EVENTS.c.seq,
            EVENTS.c.session_id,
            EVENTS.c.turn_id,
            EVENTS.c.created_at,
            EVENTS.c.data,
        )
        .where(EVENTS.c.session_id == session_id, EVENTS.c.seq > after)
        .order_by(EVENTS.c.seq)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [row_to_event(r) for r in db.execute(stmt)]
