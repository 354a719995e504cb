"""Push between replicas on PostgreSQL: NOTIFY in every appending transaction, LISTEN in every server.

The database stays the source of truth. A notification says only "session S gained seqs A..B"
(PostgreSQL delivers it if and only if the transaction commits). In each server the `EventRelay`
reads, in one query per notification, those events of the sessions someone there is watching
and hands them to their streams like a local commit (`store/notify.py`), then announces B; a
stream that did not get everything up to B (a failed read, a gap) runs its own catch-up query.
A lost notification costs latency, never an event: every (re)connect of the listener wakes
every stream to check the database, and streams keep a slow safety-net poll. LISTEN needs a
session of its own, so its connection is a direct one (or a session-mode PgBouncer pool),
never a transaction-mode pool.

Decisions about a running turn (an approval, a cancel, a force-close or recovery closing it) go on a
second channel, `firstline_turns`, carrying only the turn id: the owning replica's supervisor and
approver read the database at once instead of at their next (slow, safety-net) poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from assistant.store.db import reading
from assistant.store.models import EVENTS
from assistant.store.notify import Notifier
from assistant.store.rows import row_to_event

CHANNEL = "firstline_events"
TURNS_CHANNEL = "firstline_turns"
MAX_PAYLOAD = 7900
"""PostgreSQL's limit is 8000 bytes a notification; longer batches are split."""
log = logging.getLogger("firstline.store")


Span = tuple[str, int, int]
"""(session id, first seq, last seq) appended by one transaction."""


def payloads(spans: dict[str, tuple[int, int]]) -> list[str]:
    """`sid:first:last,...` strings, each under MAX_PAYLOAD."""
    out: list[str] = []
    parts: list[str] = []
    size = 0
    for sid, (first, last) in sorted(spans.items()):
        item = f"{sid}:{first}:{last}"
        if parts and size + len(item) + 1 > MAX_PAYLOAD:
            out.append(",".join(parts))
            parts, size = [], 0
        parts.append(item)
        size += len(item) + 1
    if parts:
        out.append(",".join(parts))
    return out


def parse(payload: str) -> list[Span]:
    """The spans of a payload; malformed parts are skipped."""
    spans = []
    for part in payload.split(","):
        rest, _, last = part.rpartition(":")
        sid, _, first = rest.rpartition(":")
        if sid and first.isdigit() and last.isdigit():
            spans.append((sid, int(first), int(last)))
    return spans


def announce(db: Session, spans: dict[str, tuple[int, int]]) -> None:
    """Inside an appending transaction on PostgreSQL: queue the sessions' new seqs (sent at commit)."""
    if not spans or db.get_bind().dialect.name != "postgresql":
        return
    db.execute(sa.select(*[sa.func.pg_notify(CHANNEL, p) for p in payloads(spans)]))


def ring_turn(db: Session, turn_id: str | None) -> None:
    """Inside the transaction that decided something about a running turn, on PostgreSQL: wake its owner (the
    turn id is sent at commit, and only then)."""
    if turn_id and db.get_bind().dialect.name == "postgresql":
        db.execute(sa.select(sa.func.pg_notify(TURNS_CHANNEL, turn_id)))


class EventRelay:
    """Turns another replica's announcements into hand-offs: one query per notification instead of one per
    watching stream. Sessions nobody here watches, or whose turn runs here (their events were handed over at
    commit), only get the announcement."""

    def __init__(self, engine: Engine, notifier: Notifier, url: str | None = None) -> None:
        """`url` (libpq): read on an async connection of the relay's own, on the event loop, rather than through
        a thread of the pool: under load every hop between threads and the loop costs a scheduling delay."""
        self.engine, self.notifier, self.url = engine, notifier, url
        self.pending: dict[str, tuple[int, int]] = {}
        self._task: asyncio.Task | None = None
        self._conn: Any = None

    def heard(self, spans: list[Span]) -> None:
        for sid, first, last in spans:
            if not self.notifier.subscribers(sid) or self.notifier.written_here(sid):
                self.notifier.announce(sid, last)
                continue
            lo, hi = self.pending.get(sid, (first, last))
            self.pending[sid] = (min(lo, first), max(hi, last))
        if self.pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._flush(), name="pg-relay")

    async def _flush(self) -> None:
        """While announcements keep coming, fetch what accumulated during the previous read, in one query."""
        while self.pending:
            spans, self.pending = self.pending, {}
            try:
                fetched = await self._fetch(spans)
            except Exception as exc:  # noqa: BLE001 - the streams will query themselves
                log.warning("relay read failed: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)
                fetched = {}
            for sid, (_first, last) in spans.items():
                if fetched.get(sid):
                    self.notifier.notify(sid, fetched[sid])
                self.notifier.announce(sid, last)

    async def _fetch(self, spans: dict[str, tuple[int, int]]) -> dict[str, list[dict]]:
        if self.url is None:
            return await asyncio.get_running_loop().run_in_executor(None, fetch_spans, self.engine, spans)
        import psycopg
        from psycopg.rows import namedtuple_row

        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5, row_factory=namedtuple_row
                )
            where = " OR ".join(
                ["(session_id = %s AND seq BETWEEN %s AND %s)"] * len(spans)
            )  # placeholders only
            params = [v for sid, (first, last) in spans.items() for v in (sid, first, last)]
            cur = await self._conn.execute(
                f"SELECT type, seq, session_id, turn_id, created_at, data FROM events WHERE {where} "
                "ORDER BY session_id, seq",
                params,
            )
            rows = await cur.fetchall()
        except Exception:
            if self._conn is not None:
                await self._conn.close()
            self._conn = None
            raise
        out: dict[str, list[dict]] = {}
        for row in rows:
            out.setdefault(row.session_id, []).append(row_to_event(row).to_json())
        return out

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()


def fetch_spans(engine: Engine, spans: dict[str, tuple[int, int]]) -> dict[str, list[dict]]:
    """The events of every span, as JSON, in seq order per session; one query. Blocking."""
    where = sa.or_(
        *[
            (EVENTS.c.session_id == sid) & EVENTS.c.seq.between(first, last)
            for sid, (first, last) in spans.items()
        ]
    )
    stmt = (
        sa.select(
            EVENTS.c.type,
            EVENTS.c.seq,
            EVENTS.c.session_id,
            EVENTS.c.turn_id,
            EVENTS.c.created_at,
            EVENTS.c.data,
        )
        .where(where)
        .order_by(EVENTS.c.session_id, EVENTS.c.seq)
    )
    out: dict[str, list[dict]] = {}
    with reading(engine) as db:
        for row in db.execute(stmt):
            out.setdefault(row.session_id, []).append(row_to_event(row).to_json())
    return out


class PgListener:
    """One LISTEN connection per server (psycopg 3 async), reconnecting with backoff.

    `on_notify(spans)` for each notification of events, `on_turn(turn_id)` for each about a turn;
    `on_state(True)` once listening (the caller then wakes every stream and turn to catch up on what it may
    have missed), `on_state(False)` when the connection is lost.
    A `SELECT 1` every `ping_s` without traffic finds a connection that died silently."""

    def __init__(
        self,
        url: str,
        on_notify: Callable[[list[Span]], None],
        on_state: Callable[[bool], None],
        *,
        on_turn: Callable[[str], None] | None = None,
        ping_s: float = 10.0,
    ) -> None:
        self.url, self.on_notify, self.on_state, self.ping_s = url, on_notify, on_state, ping_s
        self.on_turn = on_turn
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
                log.warning(
                    "LISTEN connection lost (%s); streams fall back to polling; reconnecting in %.2g s",
                    str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__,
                    delay,
                )
            self._set(False)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _listen(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=5
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            if self.on_turn is not None:
                await conn.execute(f"LISTEN {TURNS_CHANNEL}")
            self._set(True)
            while True:
                async for note in conn.notifies(timeout=self.ping_s):
                    if note.channel == TURNS_CHANNEL:
                        if self.on_turn is not None:
                            self.on_turn(note.payload)
                    else:
                        self.on_notify(parse(note.payload))
                await conn.execute("SELECT 1")

    def _set(self, listening: bool) -> None:
        if listening != self.listening:
            self.listening = listening
            self.on_state(listening)
