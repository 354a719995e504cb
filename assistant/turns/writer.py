"""A turn's events on their way to the database: fenced, in order, and the end of a turn recorded once.

Every append goes through the process's group committer, which checks in the same transaction
that the turn is still running under this replica's lease (store/lease.py). Once an append is
fenced the writer marks itself `lost` and sends nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from assistant import metrics, store
from assistant.events import Error, Event, EventType, TurnFinished
from assistant.store.group_commit import GroupCommitter, retrieve_exception

log = logging.getLogger("firstline.turns")
OnEvent = Callable[[Event], Awaitable[None] | None]
Status = Literal["completed", "error", "cancelled", "budget", "interrupted"]


class EventWriter:
    """Commits a turn's events in order through the process's group committer (a burst of tokens goes as
    one piece), then tells `on_event`; callers await the events that must be stored before going on.
    Once an append is fenced (the turn is no longer ours) `lost` is set and nothing more is sent."""

    def __init__(self, committer: GroupCommitter, session_id: str, on_event: OnEvent | None = None) -> None:
        self.committer, self.session_id, self.on_event = committer, session_id, on_event
        self.queue: asyncio.Queue[tuple[Event, asyncio.Future[Event]]] = asyncio.Queue()
        self.last: asyncio.Future[Event] | None = None
        self.finished = False
        self.lost = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"event-writer-{session_id}")

    def put(self, event: Event) -> asyncio.Future[Event]:
        """Queue `event`; the future resolves to the stored event (with its seq) once committed."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(retrieve_exception)
        self.queue.put_nowait((event, fut))
        self.last = fut
        return fut

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 256:
                batch.append(self.queue.get_nowait())
            try:
                if self.lost.is_set():
                    raise store.Fenced(batch[0][0].turn_id or "")
                stored = await self.committer.append(self.session_id, [ev for ev, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the DB went away, or the turn is not ours: waiters learn it
                if isinstance(exc, store.Fenced):
                    self.lost.set()
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for ev, (_, fut) in zip(stored, batch, strict=True):
                self.finished = self.finished or ev.type is EventType.TURN_FINISHED
                metrics.observe_event(ev)  # what was stored, once (a retried end is not counted twice)
                await self._tell(ev)
                if not fut.done():
                    fut.set_result(ev)

    async def _tell(self, ev: Event) -> None:
        if self.on_event is None:
            return
        try:
            res = self.on_event(ev)
            if asyncio.iscoroutine(res):
                await res
        except Exception:
            log.exception("on_event listener failed for %s", ev.type.value)

    async def close(self) -> None:
        """Wait for everything queued to be committed (or to fail), then stop."""
        if self.last is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self.last)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def finish(
    writer: EventWriter, turn_id: str, status: Status, started: float, error: Error | None
) -> str:
    """Record the turn's end (after `error`, if any) unless it was already recorded; the status."""
    if writer.finished:
        return status
    if error is not None:
        writer.put(Event.of(error, turn_id))
    wall = round((time.perf_counter() - started) * 1000, 1)
    await writer.put(Event.of(TurnFinished(status=status, wall_ms=wall), turn_id))
    return status


async def finish_quietly(
    writer: EventWriter, turn_id: str, status: Status, started: float, error: Error, retry_s: float = 0.0
) -> None:
    """Best effort while shutting down; after a failure, retried for `retry_s` so a database that comes back
    frees the session instead of leaving it `running`. Recovery at next start covers the rest."""
    deadline, delay = time.monotonic() + retry_s, 0.25
    while True:
        try:
            await asyncio.shield(finish(writer, turn_id, status, started, error))
            return
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - best effort
            if (
                writer.lost.is_set() or time.monotonic() + delay > deadline
            ):  # closed elsewhere: nothing to record
                log.warning("could not record the end of turn %s (%s)", turn_id, status)
                return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
