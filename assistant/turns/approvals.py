"""Approvals across processes: a turn records its pending request and waits for a person's decision.

The decision may arrive through any process (another server replica, the CLI); the database is
the only thing they share. With a `TurnBell` the waiting turn reads it as soon as it is rung (in-process,
or by PostgreSQL NOTIFY from the replica that took the decision), and otherwise every poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from sqlalchemy.engine import Engine

from assistant import store
from assistant.context import Approver
from assistant.events import ApprovalDecided, ApprovalRequired
from assistant.turns.wake import TurnBell


def db_approver(
    engine: Engine,
    session_id: str,
    turn_id: str,
    *,
    poll_s: float = 0.2,
    timeout_s: float = 1800.0,
    bell: TurnBell | None = None,
) -> Approver:
    """An approver that records a pending approval and waits for a person's decision in the DB: read when
    `bell` rings for this turn, and every `poll_s` regardless (`bell.poll_s`: slower while push is live).

    Works when the decision arrives through another process (any server replica, the CLI).
    Undecided after `timeout_s`: the request expires and counts as denied.
    """

    async def approve(request: ApprovalRequired) -> ApprovalDecided:
        await asyncio.to_thread(_ensure_approval, engine, session_id, turn_id, request)
        deadline = time.monotonic() + timeout_s
        wake = bell.event(turn_id) if bell is not None else None
        while True:
            if wake is not None:
                wake.clear()  # before the read: a ring from now on is not lost
            row = await asyncio.to_thread(_approval, engine, session_id, request.approval_id)
            if row.status in ("approved", "denied"):
                return ApprovalDecided(
                    approval_id=request.approval_id,
                    decision="approve" if row.status == "approved" else "deny",
                    by=row.decided_by or "user",
                    comment=row.comment,
                )
            if row.status == "expired" or time.monotonic() > deadline:
                comment = f"no decision within {_span(timeout_s)}"
                expired = await asyncio.to_thread(_expire, engine, request.approval_id, comment)
                if expired or row.status == "expired":
                    return ApprovalDecided(
                        approval_id=request.approval_id,
                        decision="deny",
                        by="firstline",
                        comment=comment,
                        expired=True,
                    )
            if wake is None or bell is None:
                await asyncio.sleep(poll_s)
                continue
            left = max(deadline - time.monotonic(), 0.0) + 0.01  # expire on time, not a safety-net poll later
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), min(bell.poll_s(poll_s), left))

    return approve


def _span(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


def _ensure_approval(engine: Engine, session_id: str, turn_id: str, request: ApprovalRequired) -> None:
    with store.writing(engine) as db:
        store.ensure_approval(db, session_id=session_id, turn_id=turn_id, request=request)


def _approval(engine: Engine, session_id: str, approval_id: str) -> store.ApprovalRow:
    with store.reading(engine) as db:
        return store.get_approval(db, session_id=session_id, approval_id=approval_id)


def _expire(engine: Engine, approval_id: str, comment: str) -> bool:
    with store.writing(engine) as db:
        return store.expire_approval(db, approval_id=approval_id, comment=comment)
