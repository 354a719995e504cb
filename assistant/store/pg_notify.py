"""Push between replicas on PostgreSQL: NOTIFY in every appending transaction, LISTEN in every server.

The database stays the source of truth. A notification says only "session S now ends at seq N"
(PostgreSQL delivers it if and only if the transaction commits) and wakes that session's
streams in each server (`store/notify.py`), which then read the events with their usual
catch-up query. A lost notification costs latency, never an event: every (re)connect of the
listener wakes every stream to check the database, and streams keep a slow safety-net poll.
LISTEN needs a session of its own, so its connection is a direct one (or a session-mode
PgBouncer pool), never a transaction-mode pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session

CHANNEL = "firstline_events"
MAX_PAYLOAD = 7900
"""PostgreSQL's limit is 8000 bytes a notification; longer batches are split."""
log = logging.getLogger("firstline.store")


def payloads(last: dict[str, int]) -> list[str]:
    """`sid:seq,sid:seq,...` strings, each under MAX_PAYLOAD."""
    out: list[str] = []
    parts: list[str] = []
    size = 0
    for sid, seq in sorted(last.items()):
        item = f"{sid}:{seq}"
        if parts and size + len(item) + 1 > MAX_PAYLOAD:
            out.append(",".join(parts))
            parts, size = [], 0
        parts.append(item)
        size += len(item) + 1
    if parts:
        out.append(",".join(parts))
    return out


def parse(payload: str) -> list[tuple[str, int]]:
    """The (session id, last seq) pairs of a payload; malformed parts are skipped."""
    pairs = []
    for part in payload.split(","):
        sid, _, seq = part.rpartition(":")
        if sid and seq.isdigit():
            pairs.append((sid, int(seq)))
    return pairs


def announce(db: Session, last: dict[str, int]) -> None:
    """Inside an appending transaction on PostgreSQL: queue the sessions' new last seqs (sent at commit)."""
    if not last or db.get_bind().dialect.name != "postgresql":
        return
    db.execute(sa.select(*[sa.func.pg_notify(CHANNEL, p) for p in payloads(last)]))


class PgListener:
    """One LISTEN connection per server (psycopg 3 async), reconnecting with backoff.

    `on_notify(session_id, seq)` for each announced session; `on_state(True)` once listening (the caller then
    wakes every stream to catch up on what it may have missed), `on_state(False)` when the connection is lost.
    A `SELECT 1` every `ping_s` without traffic finds a connection that died silently."""

    def __init__(self, url: str, on_notify: Callable[[str, int], None], on_state: Callable[[bool], None], *,
                 ping_s: float = 10.0) -> None:
        self.url, self.on_notify, self.on_state, self.ping_s = url, on_notify, on_state, ping_s
        self.listening = False
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="pg-listener")

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        delay = 0.25
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database went away: streams poll until we are back
                if self.listening:
                    delay = 0.25
                log.warning("LISTEN connection lost (%s); streams fall back to polling; reconnecting in %.2g s",
                            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__, delay)
            self._set(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self._set(True)
            while True:
                async for note in conn.notifies(timeout=self.ping_s):
                    for sid, seq in parse(note.payload):
                        self.on_notify(sid, seq)
                await conn.execute("SELECT 1")

    def _set(self, listening: bool) -> None:
        if listening != self.listening:
            self.listening = listening
            self.on_state(listening)
