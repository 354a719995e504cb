"""Recovery: closing other replicas' running turns whose owner is provably gone or whose lease expired.

Closing takes the session's row lock and is fenced on both sides (store/closing.py): the turn
ends once, and its former owner, should it still live, stops writing it at once.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlmodel import Session

from assistant import store
from assistant.store import lease
from assistant.store.owner import Owner, owner_is_gone

log = logging.getLogger("firstline.replica")


def recover_expired(engine: Engine, me: Owner, lease_s: float, *, by_lease: bool = True) -> list[str]:
    """Close other replicas' running turns whose owner is provably gone, or (with `by_lease`) silent for longer
    than `lease_s` (re-checked under the session's lock). Blocking. Returns the turn ids closed."""
    with store.reading(engine) as db:
        orphans = lease.recovery_candidates(db, me, lease_s)
    closed = []
    for orphan in orphans:
        dead = owner_is_gone(orphan.pid, orphan.boot, orphan.pid_ns)
        if not dead and not (by_lease and orphan.expired(lease_s)):
            continue
        with store.writing(engine) as db:
            guard = None if dead else _still_silent(orphan, lease_s)
            if not store.close_running_turn(
                db,
                session_id=orphan.session_id,
                turn_id=orphan.turn_id,
                message=_why(orphan, lease_s, dead),
                guard=guard,
            ):
                continue  # it finished, someone else closed it, or its owner came back
        closed.append(orphan.turn_id)
        log.warning(
            "turn %s of session %s: %s; marked interrupted",
            orphan.turn_id,
            orphan.session_id,
            "its process exited" if dead else "its replica's lease expired",
        )
    return closed


def _still_silent(orphan: store.Orphan, lease_s: float) -> store.closing.Guard:
    def guard(db: Session) -> bool:
        again = lease.running_turn(db, orphan.turn_id)
        return again is not None and again.replica == orphan.replica and again.expired(lease_s)

    return guard


def _why(orphan: store.Orphan, lease_s: float, dead: bool) -> str:
    kept = "everything up to that point is kept. Send a new message to continue."
    if dead:
        return f"Firstline stopped during this turn (process {orphan.pid} on {orphan.host} exited); {kept}"
    silent = "has no heartbeat" if orphan.silent_s is None else f"was silent for {orphan.silent_s:.0f} s"
    return (
        f"The server running this turn ({orphan.host}) stopped renewing its lease: it {silent} "
        f"(lease {lease_s:g} s), so another server closed the turn; {kept}"
    )
