"""Ending a turn from outside its driver: recovery after its owner's lease expired, and an admin's force-close.

Both take the session's row lock first (as every append does), flip the turn from running to
interrupted, and append its closing `error` + `turn_finished` in the same transaction. The
turn's owner, if it still lives, is fenced from then on (`lease.check_fence`), so a turn
ends exactly once. A force-close also leaves an entry in the audit chain.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from assistant.events import Error, Event, TurnFinished
from assistant.store.audit import append_entries, audit_stamp
from assistant.store.errors import Conflict, NotFound
from assistant.store.log import lock_session, write_batch
from assistant.store.models import SessionRow, TurnRow, utcnow
from assistant.store.pg_notify import ring_turn
from assistant.store.repo import claim_orphan
from tools.redact import redact

Guard = Callable[[Session], bool]
"""Checked with the session locked, before anything changes: False leaves the turn alone."""


def close_running_turn(
    db: Session, *, session_id: str, turn_id: str, message: str, guard: Guard | None = None
) -> bool:
    """Mark the turn interrupted and append its error and turn_finished, in the caller's transaction.
    False (nothing written) if it is no longer running, or `guard` says no."""
    lock_session(db, session_id=session_id)  # before the guard looks: appends and closes queue on this lock
    if guard is not None and not guard(db):
        return False
    if not claim_orphan(db, session_id=session_id, turn_id=turn_id):
        return False
    write_batch(
        db,
        {
            session_id: [
                Event.of(Error(message=message, kind="interrupted"), turn_id),
                Event.of(TurnFinished(status="interrupted"), turn_id),
            ]
        },
    )
    ring_turn(db, turn_id)  # its owner, if alive, stops at once rather than at its next poll
    return True


def force_close(db: Session, *, turn_id: str, by: str, reason: str) -> TurnRow:
    """An operator ends a turn stuck `running` (its replica gone for good, say). Audited. NotFound for an
    unknown turn, Conflict if it is not running."""
    reason, by = redact(reason), redact(by)  # operator text is stored and shown: no pasted secret survives
    turn = db.get(TurnRow, turn_id)
    if turn is None:
        raise NotFound("turn", turn_id)
    where = f"{turn.owner_host} (pid {turn.owner_pid}, replica {turn.owner_replica or 'unknown'})"
    message = (
        f"This turn was closed by {by}: {reason}. Everything up to that point is kept; "
        "send a new message to continue."
    )
    if not close_running_turn(db, session_id=turn.session_id, turn_id=turn_id, message=message):
        raise Conflict(f"turn {turn_id!r} is not running (status {turn.status})")
    session = db.get(SessionRow, turn.session_id)
    append_entries(
        db,
        [
            {
                "kind": "turn_force_closed",
                "at": audit_stamp(utcnow()),
                "session_id": turn.session_id,
                "turn_id": turn_id,
                "actor": by,
                "target": session.target if session else "",
                "tool": "",
                "command": "",
                "detail": {"reason": reason, "owner": where},
            }
        ],
    )
    db.refresh(turn)
    return turn
