"""This process as a replica: it keeps the lease on its turns alive, and (a server) runs recovery.

Every process that runs turns (each `firstline serve`, a `firstline chat`) has a uuid and a row
in `replicas` (store/lease.py). Every lease/5 s it renews its heartbeat; a server then also
looks for running turns of other replicas and closes, as interrupted, those whose owner is
provably gone (same PID namespace and boot, process exited: at once) or silent for longer
than the lease. A replica that could not reach the database itself trusts its own view again
only after a whole lease of successful heartbeats, so after an outage that silenced everyone
nobody closes the turns of a replica that is merely reconnecting. Closing is fenced on both
sides: the turn ends once, and its former owner stops writing it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.engine import Engine

from assistant import store
from assistant.store import lease
from assistant.store.owner import Owner
from assistant.turns.recovery import recover_expired

log = logging.getLogger("firstline.replica")
FORGET_EVERY = 50
"""Heartbeats between two clean-ups of long-silent replicas' rows."""


class Replica:
    """The heartbeat task of this process's lease; with `recover`, also the recovery of expired turns."""

    def __init__(
        self, engine: Engine, lease_s: float, *, recover: bool = True, owner: Owner | None = None
    ) -> None:
        self.engine, self.lease_s, self.recover = engine, lease_s, recover
        self.owner = owner or store.current_owner()
        self.every_s = max(lease_s / 5, 0.1)
        self._failed_at: float | None = None
        self._task: asyncio.Task | None = None
        self._beats = 0

    @property
    def id(self) -> str:
        return self.owner.replica

    def trusted(self) -> bool:
        """May this replica judge others' leases: no failed heartbeat of its own within the last lease."""
        return self._failed_at is None or time.monotonic() - self._failed_at >= self.lease_s

    def beat(self) -> list[str]:
        """Blocking: renew the lease, then (if recovering) close the expired turns of others; their ids."""
        try:
            with store.writing(self.engine) as db:
                lease.touch(db, self.owner)
                if self.recover and self._beats % FORGET_EVERY == 0:
                    lease.forget_silent(db, self.id)
            self._beats += 1
        except Exception:
            self._failed_at = time.monotonic()
            raise
        return (
            recover_expired(self.engine, self.owner, self.lease_s, by_lease=self.trusted())
            if self.recover
            else []
        )

    async def start(self) -> None:
        """First heartbeat (and recovery) now, then every lease/5 s in the background."""
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.beat)
        self._task = asyncio.create_task(self._run(), name="replica-heartbeat")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await asyncio.to_thread(self.beat)
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; the lease outlives it
                log.warning("lease heartbeat failed: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)

    async def aclose(self) -> None:
        """Stop renewing; forget this replica's row unless it still owns running turns (then the lease decides)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(_retire, self.engine, self.id)


def _retire(engine: Engine, replica: str) -> None:
    with store.writing(engine) as db:
        lease.retire(db, replica)
