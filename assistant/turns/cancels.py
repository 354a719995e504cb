"""Cancel requests and turns closed elsewhere: the DB flag any process may set, and how a turn notices it."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.engine import Engine

from assistant import store


async def watch_cancel(
    engine: Engine, turn_id: str, cancel_event: asyncio.Event | None, poll_s: float | None
) -> None:
    """Return once a cancel is requested (in-process flag, or the DB flag set by any process) or the turn was
    closed elsewhere.
    `poll_s=None`: someone else (the TurnSupervisor) watches the DB flag and sets `cancel_event`."""
    if poll_s is None and cancel_event is not None:
        await cancel_event.wait()
        return
    poll_s = poll_s or 0.25
    while True:
        if cancel_event is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel_event.wait(), poll_s)
            if cancel_event.is_set():
                return
        else:
            await asyncio.sleep(poll_s)
        if await asyncio.to_thread(cancels_or_lost, engine, [turn_id]):
            return


def cancels_or_lost(engine: Engine, turn_ids: list[str]) -> list[str]:
    """Turns to stop: cancel requested, or no longer running under this replica (closed elsewhere)."""
    with store.reading(engine) as db:
        return store.cancels_requested(db, turn_ids=turn_ids, owner=store.current_owner().replica)


def request_cancel(engine: Engine, session_id: str, turn_id: str) -> store.TurnRow:
    with store.writing(engine) as db:
        return store.request_cancel(db, session_id=session_id, turn_id=turn_id)
