"""Wake-ups for this process's turns: "look at turn T in the database now".

A decision about a running turn (an approval, a cancel, a force-close, recovery closing it) is written
to the database by whichever process received it. The turn's owner learns of it through this bell:
rung in-process by the request that committed it (SQLite, or a decision that arrived at the owner
itself), or by PostgreSQL NOTIFY on `firstline_turns` from any replica (store/pg_notify.py). The
database stays the source of truth: a ring only makes the owner read it now, and a missed ring costs
latency, never a decision, because the owner still polls (slowly while push is live).
"""

from __future__ import annotations

import asyncio


class TurnBell:
    """One `asyncio.Event` per local turn (its approver waits on it) and one for any turn (the cancel watcher)."""

    def __init__(self, *, safety_net_s: float = 2.0) -> None:
        self._turns: dict[str, asyncio.Event] = {}
        self.any = asyncio.Event()
        self.pushed = False
        """PostgreSQL LISTEN is up: rings come from every replica, so polls slow down to `safety_net_s`."""
        self.safety_net_s = safety_net_s
        self._loop: asyncio.AbstractEventLoop | None = None

    def event(self, turn_id: str) -> asyncio.Event:
        """The turn's event (created on first use; call from the event loop)."""
        self._loop = asyncio.get_running_loop()
        return self._turns.setdefault(turn_id, asyncio.Event())

    def forget(self, turn_id: str) -> None:
        self._turns.pop(turn_id, None)

    def poll_s(self, fast_s: float) -> float:
        """How long a waiter may sleep before it reads the database anyway."""
        return max(fast_s, self.safety_net_s) if self.pushed else fast_s

    def ring(self, turn_id: str | None) -> None:
        """Something about `turn_id` changed in the database (already committed). Any thread; a turn that is
        not this process's is ignored."""
        if not turn_id:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop:
            self._ring(turn_id)
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._ring, turn_id)

    def ring_all(self) -> None:
        """Every local turn reads the database once (after LISTEN reconnected: rings may have been missed)."""
        for event in self._turns.values():
            event.set()
        self.any.set()

    def set_pushed(self, pushed: bool) -> None:
        self.pushed = pushed
        self.ring_all()

    def _ring(self, turn_id: str) -> None:
        event = self._turns.get(turn_id)
        if event is not None:
            event.set()
            self.any.set()
