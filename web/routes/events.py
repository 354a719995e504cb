"""The session's event stream over SSE: stored events after N, then live ones, no gap, no duplicate.

The database is the source of truth. Events this process commits reach the stream through the
Notifier without a query; the stream queries `seq > last_sent` when that hand-off has a gap,
and when nothing arrived for a while: every `POLL_S`, backing off to `IDLE_POLL_S`, so events
appended by another process arrive too. While this process runs the session's turn (so it
writes all of its events) the safety-net query waits `LOCAL_POLL_S`: under load those queries
would queue behind the writers and hold up the events the hand-off already has. On PostgreSQL
other replicas' commits arrive as LISTEN/NOTIFY announcements (store/pg_notify.py), so while
that connection is up the query runs only when one says there is something new, plus a safety
net every `SAFETY_POLL_S`. When the server drains (SIGTERM) a stream ends cleanly once no turn of
its session runs here, after a `retry:` that has the browser reconnect (to another replica) soon.
Resume with the `Last-Event-ID` header (EventSource does it) or `?after=N`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy.engine import Engine
from sse_starlette import EventSourceResponse

from assistant import metrics, store
from web.deps import EngineDep, NotifierDep
from web.errors import ERROR_RESPONSES, InvalidField
from web.metrics import counted

log = logging.getLogger("firstline.web")
router = APIRouter(prefix="/api/sessions", tags=["events"], responses=ERROR_RESPONSES)

POLL_S = 0.5
IDLE_POLL_S = 2.0
LOCAL_POLL_S = 5.0
SAFETY_POLL_S = 20.0
RECONNECT_MS = 500
BATCH = 500
PING_S = 15
RETRY_MS = 1500
MAX_SEQ = 2**31 - 1


def _resume_point(last_event_id: str | None, after: int | None) -> int:
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not (value.isascii() and value.isdigit()) or int(value) > MAX_SEQ:
            raise InvalidField("header.Last-Event-ID", "must be the integer seq of the last event received")
        return int(value)
    return after or 0


def _fetch(engine: Engine, session_id: str, after: int) -> list[dict]:
    with store.reading(engine) as db:
        return [ev.to_json() for ev in store.list_events(db, session_id=session_id, after=after, limit=BATCH)]


def _exists(engine: Engine, session_id: str) -> None:
    with store.reading(engine) as db:
        store.get_session(db, session_id=session_id)


@router.get(
    "/{session_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "SSE: id = seq, event = type, data = the event as JSON",
        }
    },
)
async def events(
    session_id: str,
    request: Request,
    engine: EngineDep,
    notifier: NotifierDep,
    after: int | None = Query(
        None, ge=0, le=MAX_SEQ, description="resume after this seq (Last-Event-ID wins)"
    ),
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
) -> EventSourceResponse:
    """Every event of the session in seq order: first the stored ones after the resume point, then live."""
    start = _resume_point(last_event_id, after)
    await asyncio.to_thread(_exists, engine, session_id)
    return EventSourceResponse(
        counted(_stream(engine, notifier, session_id, start)),
        ping=PING_S,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stored_or_handed_over(
    engine: Engine, sub: store.Subscription, session_id: str, last: int
) -> list[dict]:
    """The stored events after `last`, or the hand-off's if they come first. Under a burst of new turns the
    query waits for a thread behind their writes (100-200 ms at 100 sessions posting at once), while the
    question it looks for is committed and handed over meanwhile; 13% of the questions were held up so."""
    query = asyncio.get_running_loop().run_in_executor(None, _fetch, engine, session_id, last)
    while True:
        handed = sub.delivered()
        await asyncio.wait((query, handed), return_when=asyncio.FIRST_COMPLETED)
        if query.done():
            return query.result()
        rows = sub.take_after(last)
        if rows:  # the query's answer is no longer needed; it still finishes in its thread
            query.add_done_callback(lambda f: f.cancelled() or f.exception())
            return rows


async def _stream(
    engine: Engine, notifier: store.Notifier, session_id: str, last: int
) -> AsyncIterator[dict]:
    retry: int | None = RETRY_MS
    poll_s = POLL_S
    opened = time.time()
    with notifier.subscribe(session_id) as sub:
        while True:
            rows = sub.take_after(last)  # what this process just committed, if it continues our stream
            if rows is None:
                try:
                    rows = await _stored_or_handed_over(engine, sub, session_id, last)
                except Exception as exc:  # noqa: BLE001 - DB hiccup: keep the stream, retry
                    log.warning("event stream for %s: %s", session_id, exc)
                    rows = []
                    await asyncio.sleep(POLL_S)
                poll_s = POLL_S if rows else min(poll_s * 2, IDLE_POLL_S)
            else:
                poll_s = POLL_S
            for ev in rows:
                last = ev["seq"]
                metrics.event_delivered(ev, opened)
                out = {
                    "id": str(ev["seq"]),
                    "event": ev["type"],
                    "data": json.dumps(ev, separators=(",", ":")),
                }
                if retry is not None:
                    out["retry"], retry = retry, None  # reconnect quickly after a network blip
                yield out
            if len(rows) == BATCH:
                continue
            if notifier.draining and not notifier.written_here(session_id):
                yield {"comment": "this server is shutting down: reconnect", "retry": RECONNECT_MS}
                return
            # A client that goes away ends this generator: EventSourceResponse listens for the disconnect
            # and cancels it (polling `request.is_disconnected()` here cost a turn of the event loop per batch).
            await sub.wait(_wait_s(notifier, session_id, poll_s))


def _wait_s(notifier: store.Notifier, session_id: str, poll_s: float) -> float:
    """How long to wait for a hand-off or an announcement before asking the database anyway."""
    if notifier.written_here(session_id):
        return LOCAL_POLL_S
    return SAFETY_POLL_S if notifier.pushed else poll_s
