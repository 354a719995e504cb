"""Group commit: the events of every running turn in this process, committed together by one writer thread.

With a transaction per turn per step, 100 concurrent turns meant 100 threads queueing for SQLite's
write lock (or for PostgreSQL round trips and the audit head row), all holding the GIL in
SQLAlchemy between waits. Here each caller queues its events and awaits a future; one task takes
everything queued, writes it in one transaction (`store.append_batch`) on a single dedicated
thread, and resolves the futures. Under load batches grow and the cost per event falls; when idle
a batch is one event and nothing waits for company. A batch that fails for a reason other than a
transient conflict is retried one session at a time, so one session's bad event (say, the session
was deleted, or its turn is no longer this replica's: `lease.Fenced`) fails only that session's callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from assistant.events import Event
from assistant.store.log import append_batch

MAX_BATCH_EVENTS = 2000

_Item = tuple[str, list[Event], asyncio.Future[list[Event]]]
OnCommit = Callable[[str, list[dict[str, Any]]], None]
"""Told (session id, its committed events as JSON) on the event loop right after each commit."""
log = logging.getLogger("firstline.store")


class GroupCommitter:
    """One per engine and event loop. `append` returns the stored events (seq, at) once committed;
    `on_commit` (the server's SSE notifier) hears of them first. With `owner` (this process's replica id)
    every batch is fenced: only turns still running under that replica's lease are written."""

    def __init__(
        self, engine: Engine, on_commit: OnCommit | None = None, *, owner: str | None = None
    ) -> None:
        self.engine, self.on_commit, self.owner = engine, on_commit, owner
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="firstline-commit")
        self._task: asyncio.Task | None = None
        self._closed = False
        self.batches = 0
        """How many transactions were committed (for benchmarks and tests)."""

    async def append(self, session_id: str, events: list[Event]) -> list[Event]:
        if self._closed:
            raise RuntimeError("the group committer is closed")
        if not events:
            return []
        fut: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(retrieve_exception)
        self._queue.put_nowait((session_id, events, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit")
        return await asyncio.shield(fut)  # a cancelled caller must not lose its place in a running batch

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            items, size, stop = [first], len(first[1]), False
            while not self._queue.empty() and size < MAX_BATCH_EVENTS:
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                items.append(item)
                size += len(item[1])
            await self._commit(items)
            if stop:
                return

    async def _commit(self, items: list[_Item]) -> None:
        batch: dict[str, list[Event]] = {}
        for sid, events, _ in items:
            batch.setdefault(sid, []).extend(events)
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(self._thread, self._write, loop, batch)
            self.batches += 1
        except Exception as exc:  # noqa: BLE001 - isolate the failing session(s)
            if len(batch) == 1:
                _fail(items, exc)
                return
            for sid in batch:
                await self._commit([item for item in items if item[0] == sid])
            return
        taken = dict.fromkeys(stored, 0)
        for sid, events, fut in items:
            start = taken[sid]
            taken[sid] = start + len(events)
            if not fut.done():
                fut.set_result(stored[sid][start : start + len(events)])

    def _write(
        self, loop: asyncio.AbstractEventLoop, batch: dict[str, list[Event]]
    ) -> dict[str, list[Event]]:
        """On the writer thread: commit, then hand the events to `on_commit` on the loop at once, ahead of the
        callers' wake-ups (each of which costs the busy loop a turn)."""
        stored = append_batch(self.engine, batch, owner=self.owner)
        if self.on_commit is not None:
            payload = [(sid, [ev.to_json() for ev in events]) for sid, events in stored.items() if events]
            loop.call_soon_threadsafe(self._announce, payload)
        return stored

    def _announce(self, payload: list[tuple[str, list[dict[str, Any]]]]) -> None:
        for sid, events in payload:
            try:
                self.on_commit(sid, events)  # type: ignore[misc] - set when this is scheduled
            except Exception:
                log.exception("on_commit listener failed for session %s", sid)

    async def aclose(self) -> None:
        """Commit everything already queued, then stop the writer thread."""
        self._closed = True
        if self._task is not None and not self._task.done():
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._thread.shutdown(wait=True)


def retrieve_exception(fut: asyncio.Future) -> None:
    """Mark a failure as seen even if its caller was cancelled meanwhile (no 'never retrieved' noise)."""
    if not fut.cancelled():
        fut.exception()


def _fail(items: list[_Item], exc: Exception) -> None:
    for _, _, fut in items:
        if not fut.done():
            fut.set_exception(exc)
