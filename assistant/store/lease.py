"""Turn ownership as a lease in the database, and the fence that enforces it.

A replica (one process, `owner.current_owner().replica`) keeps a row in `replicas` whose
`heartbeat_at` it renews every few seconds. Its running turns are covered by that lease:
once the heartbeat is older than the lease, another replica may close them. Times come
from the database's clock, so replicas whose clocks disagree still agree on a lease.

The fence: an append of a turn's events by a replica checks, in the same transaction and
under the session's row lock (which closing a turn takes too), that the turn is still
running and still owned by that replica; otherwise `Fenced`, and nothing of the batch is
written. So a turn closed elsewhere (lease expired, force-closed) ends exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from assistant.store.errors import StoreError
from assistant.store.models import REPLICAS, TURNS
from assistant.store.owner import Owner

FORGET_AFTER_S = 3600.0
"""A replica silent this long with no running turns is forgotten (its row deleted)."""


class Fenced(StoreError):
    """This replica no longer owns the turn (closed elsewhere, or taken over): stop writing it at once."""

    def __init__(self, turn_id: str) -> None:
        super().__init__(f"turn {turn_id!r} is no longer running under this replica's lease")
        self.turn_id = turn_id


def db_clock(db: Session) -> ColumnElement[Any]:
    """Now, in epoch seconds, by the database's clock (not this process's)."""
    if db.get_bind().dialect.name == "postgresql":
        return sa.func.extract("epoch", sa.func.clock_timestamp())
    return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")


def touch(db: Session, owner: Owner) -> None:
    """Renew `owner`'s heartbeat, registering it first if it has no row (first turn, or forgotten)."""
    now = db_clock(db)
    renewed = db.execute(
        sa.update(REPLICAS).where(REPLICAS.c.id == owner.replica).values(heartbeat_at=now)
    ).rowcount
    if not renewed:
        db.execute(
            sa.insert(REPLICAS).values(
                id=owner.replica,
                host=owner.host,
                pid=owner.pid,
                boot=owner.boot,
                pid_ns=owner.ns,
                started_at=now,
                heartbeat_at=now,
            )
        )


def retire(db: Session, replica: str) -> None:
    """Delete the replica's row on a clean exit, unless it still owns running turns (then the lease decides)."""
    owns = sa.select(TURNS.c.id).where((TURNS.c.owner_replica == replica) & (TURNS.c.status == "running"))
    db.execute(sa.delete(REPLICAS).where((REPLICAS.c.id == replica) & ~sa.exists(owns)))


def check_fence(db: Session, owner: str, turn_ids: set[str]) -> None:
    """Raise Fenced unless every one of `turn_ids` is running and owned by `owner`. Call with the turns' session
    rows locked (the append path has locked them), so nobody closes a turn between this check and the commit."""
    if not turn_ids:
        return
    ok = set(
        db.execute(
            sa.select(TURNS.c.id).where(
                TURNS.c.id.in_(sorted(turn_ids)), TURNS.c.status == "running", TURNS.c.owner_replica == owner
            )
        ).scalars()
    )
    for turn_id in sorted(turn_ids - ok):
        raise Fenced(turn_id)


@dataclass(frozen=True)
class Orphan:
    """A running turn of another replica, with what recovery needs to judge it."""

    turn_id: str
    session_id: str
    replica: str | None
    host: str
    pid: int
    boot: str
    pid_ns: str
    silent_s: float | None
    """Seconds since its replica's last heartbeat (database clock); None when the replica has no row."""

    def expired(self, lease_s: float) -> bool:
        return self.silent_s is None or self.silent_s > lease_s


def others_running(db: Session, me: str) -> list[Orphan]:
    """Running turns not owned by `me`, each with its owner's heartbeat age; one query."""
    return _orphans(
        db,
        (TURNS.c.status == "running") & ((TURNS.c.owner_replica.is_(None)) | (TURNS.c.owner_replica != me)),
    )


def recovery_candidates(db: Session, me: Owner, lease_s: float) -> list[Orphan]:
    """Running turns of other replicas that recovery may close: lease expired (or no replica row), or owned
    from our own PID namespace (where a dead process can be proved dead). Live leases elsewhere are not read."""
    silent = (REPLICAS.c.id.is_(None)) | (REPLICAS.c.heartbeat_at < db_clock(db) - lease_s)
    if me.ns:
        silent = silent | (REPLICAS.c.pid_ns == me.ns)
    return _orphans(
        db,
        (TURNS.c.status == "running")
        & ((TURNS.c.owner_replica.is_(None)) | (TURNS.c.owner_replica != me.replica))
        & silent,
    )


def running_turn(db: Session, turn_id: str) -> Orphan | None:
    """The turn with its owner's heartbeat age, if it is still running."""
    found = _orphans(db, (TURNS.c.id == turn_id) & (TURNS.c.status == "running"))
    return found[0] if found else None


def _orphans(db: Session, where: ColumnElement[bool]) -> list[Orphan]:
    stmt = (
        sa.select(
            TURNS.c.id,
            TURNS.c.session_id,
            TURNS.c.owner_replica,
            TURNS.c.owner_host,
            TURNS.c.owner_pid,
            TURNS.c.owner_boot,
            REPLICAS.c.pid_ns,
            (db_clock(db) - REPLICAS.c.heartbeat_at),
        )
        .select_from(TURNS.outerjoin(REPLICAS, REPLICAS.c.id == TURNS.c.owner_replica))
        .where(where)
    )
    return [
        Orphan(
            turn_id=r[0],
            session_id=r[1],
            replica=r[2],
            host=r[3],
            pid=r[4],
            boot=r[5],
            pid_ns=r[6] or "",
            silent_s=None if r[7] is None else float(r[7]),
        )
        for r in db.execute(stmt)
    ]


def forget_silent(db: Session, me: str) -> int:
    """Housekeeping: delete replicas silent for FORGET_AFTER_S that own no running turn."""
    owns = sa.select(TURNS.c.id).where(
        (TURNS.c.owner_replica == REPLICAS.c.id) & (TURNS.c.status == "running")
    )
    return db.execute(
        sa.delete(REPLICAS).where(
            (REPLICAS.c.id != me)
            & (REPLICAS.c.heartbeat_at < db_clock(db) - FORGET_AFTER_S)
            & ~sa.exists(owns)
        )
    ).rowcount
