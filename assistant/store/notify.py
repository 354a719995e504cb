"""In-process wake-ups: "session X has new events", carrying the committed events themselves.

A reader subscribes once, then loops: take what was delivered; if it continues exactly
where the reader is (seq = last + 1, no gap) use it, otherwise (nothing delivered, a
gap, an overflow) query the DB. Subscribing before the first query means an in-process
append is never missed. Appends by other processes arrive as hints ("the session now ends
at seq N", from PostgreSQL's LISTEN/NOTIFY, `store/pg_notify.py`): a reader behind N
queries, one already there does not. Without push (SQLite), the reader's timeout picks up
other processes' appends. The DB stays the source of truth; delivery only saves queries.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_PENDING = 2000


class Subscription:
    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.overflow = False
        self.woken = False
        self.recheck = False
        """A bare wake-up: the reader must ask the DB."""
        self.hint = 0
        """The highest seq another process announced for this session."""
        self._waiter: asyncio.Future[None] | None = None

    def deliver(self, events: list[dict[str, Any]] | None) -> None:
        if events:
            if len(self.pending) + len(events) > MAX_PENDING:
                self.pending.clear()
                self.overflow = True
            else:
                self.pending.extend(events)
        else:
            self.recheck = True
        self._wake()

    def announce(self, seq: int) -> None:
        """Another process committed the session up to `seq` (a wake-up only if the reader may be behind)."""
        if seq > self.hint:
            self.hint = seq
            self._wake()

    def _wake(self) -> None:
        self.woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def delivered(self) -> asyncio.Future[None]:
        """A future done at the next delivery, or done already if one came since the last `take_after`."""
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
            if self.woken:
                self._waiter.set_result(None)
        return self._waiter

    async def wait(self, timeout: float) -> bool:
        """Until something is delivered (at once if it already was since the last `take_after`) or the timeout;
        True if woken. One future, no helper task: under load every extra hop costs a turn of the event loop."""
        if self.woken:
            return True
        try:
            async with asyncio.timeout(timeout):
                await self.delivered()
            return True
        except TimeoutError:
            return False
        finally:
            self._waiter = None

    def take_after(self, last: int) -> list[dict[str, Any]] | None:
        """Delivered events that continue exactly after `last`; [] when woken only by announcements the
        reader is already past; None when the DB must be asked (not woken: a timeout; a bare wake-up, a
        gap, an overflow, or an announcement beyond what was delivered)."""
        events, overflow, woken, recheck = self.pending, self.overflow, self.woken, self.recheck
        self.pending, self.overflow, self.woken, self.recheck = [], False, False, False
        if overflow or recheck or not woken:
            return None
        fresh = [e for e in events if e["seq"] > last]
        for expected, ev in enumerate(fresh, start=last + 1):
            if ev["seq"] != expected:
                return None
        if fresh and self.hint > fresh[-1]["seq"]:
            self.woken = True  # more was announced than handed over: the next round asks the DB
        if fresh:
            return fresh
        return [] if not events and self.hint <= last else None


class Notifier:
    """One per event loop. `notify` wakes (and hands the events to) every subscriber of that session;
    `announce` passes on another process's commit; `pushed` says such announcements are arriving, so
    streams may poll the DB only as a slow safety net; `draining` tells streams to end (web/runtime.py)."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._local_turns: Counter[str] = Counter()
        self.pushed = False
        self.draining = False

    @contextmanager
    def local_turn(self, session_id: str) -> Iterator[None]:
        """While held, this process writes the session's events (its running turn is ours), so every new
        event reaches subscribers through `notify` and their DB polls are only a safety net."""
        self._local_turns[session_id] += 1
        try:
            yield
        finally:
            self._local_turns[session_id] -= 1
            if self._local_turns[session_id] <= 0:
                del self._local_turns[session_id]
                if self.draining:
                    self.notify(session_id)  # its streams may end now

    def written_here(self, session_id: str) -> bool:
        return session_id in self._local_turns

    def notify(self, session_id: str, events: list[dict[str, Any]] | None = None) -> None:
        for sub in self._subs.get(session_id, ()):
            sub.deliver(events)

    def announce(self, session_id: str, seq: int) -> None:
        for sub in self._subs.get(session_id, ()):
            sub.announce(seq)

    def set_pushed(self, pushed: bool) -> None:
        """The LISTEN connection is up (or lost). Either way every stream checks the DB once: after a
        reconnect that catches up on whatever was announced while nobody listened."""
        self.pushed = pushed
        self.wake_all()

    def drain(self) -> None:
        self.draining = True
        self.wake_all()

    def wake_all(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.deliver(None)

    def total(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    @contextmanager
    def subscribe(self, session_id: str) -> Iterator[Subscription]:
        sub = Subscription()
        self._subs[session_id].add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(session_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    self._subs.pop(session_id, None)

    def subscribers(self, session_id: str) -> int:
        return len(self._subs.get(session_id, ()))
