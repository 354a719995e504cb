"""In-process wake-ups: "session X has new events". The database stays the source of truth.

A reader subscribes once, then loops: clear, query the DB, and if nothing is new wait
for a wake-up or a timeout and query again. Subscribing before querying means an
in-process append is never missed; the timeout picks up appends made by other processes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager


class Notifier:
    """One per event loop. `notify` sets every subscriber's flag for that session."""

    def __init__(self) -> None:
        self._subs: dict[str, set[asyncio.Event]] = defaultdict(set)

    def notify(self, session_id: str) -> None:
        for flag in self._subs.get(session_id, ()):
            flag.set()

    @contextmanager
    def subscribe(self, session_id: str) -> Iterator[asyncio.Event]:
        flag = asyncio.Event()
        self._subs[session_id].add(flag)
        try:
            yield flag
        finally:
            subs = self._subs.get(session_id)
            if subs is not None:
                subs.discard(flag)
                if not subs:
                    self._subs.pop(session_id, None)

    def subscribers(self, session_id: str) -> int:
        return len(self._subs.get(session_id, ()))


async def wait_flag(flag: asyncio.Event, timeout: float) -> bool:
    """Wait for `flag` or the timeout; True if it was set."""
    try:
        await asyncio.wait_for(flag.wait(), timeout)
        return True
    except TimeoutError:
        return False
