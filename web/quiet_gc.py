"""Garbage collection that does not stop the streams.

A full (generation 2) collection walks every tracked object with the GIL held. With litellm loaded
and 100 turns in flight that is half a million objects and 400+ ms, during which no event reaches
any browser: in the concurrency benchmark the slowest 1% of deliveries were exactly such pauses.
So the server freezes what start-up loaded (`gc.freeze`: never scanned again), stops automatic full
collections, and runs them itself when no turn is running, or during a long busy stretch at the
latest every `max_interval_s`. Young collections (generations 0 and 1, a few ms) stay automatic,
so most short-lived garbage is still freed at once; memory held by older cycles waits for the next
quiet moment.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger("firstline.web")
NEVER = 1_000_000_000
"""A generation-1 count that is never reached: no automatic full collection."""


class QuietGC:
    def __init__(
        self, busy: Callable[[], bool], *, check_s: float = 5.0, max_interval_s: float = 300.0
    ) -> None:
        self.busy, self.check_s, self.max_interval_s = busy, check_s, max_interval_s
        self.full_collections = 0
        self._last = time.monotonic()
        self._dirty = False
        self._saved: tuple[int, int, int] | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Call once start-up has imported what it needs (the objects alive now are frozen)."""
        gc.collect()
        gc.freeze()
        self._saved = gc.get_threshold()
        gen0, gen1, _ = self._saved
        gc.set_threshold(gen0, gen1, NEVER)
        self._last = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="quiet-gc")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            busy = self.busy()
            self._dirty = self._dirty or busy
            overdue = time.monotonic() - self._last > self.max_interval_s
            if (self._dirty and not busy) or overdue:
                self.collect()

    def collect(self) -> None:
        started = time.perf_counter()
        found = gc.collect()
        self.full_collections += 1
        self._last, self._dirty = time.monotonic(), False
        log.debug(
            "full collection: %d objects freed in %.0f ms", found, (time.perf_counter() - started) * 1000
        )

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
