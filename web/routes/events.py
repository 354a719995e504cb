"""The session's event stream over SSE: stored events after N, then live ones, no gap, no duplicate.

The database is the source of truth: the stream re-queries `seq > last_sent` whenever this
process appends (Notifier) and at least every `POLL_S`, so events appended by another
process arrive too. Resume with the `Last-Event-ID` header (EventSource does it) or `?after=N`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy.engine import Engine
from sse_starlette import EventSourceResponse

from assistant import store
from assistant.store.notify import wait_flag
from web.deps import EngineDep, NotifierDep
from web.errors import ERROR_RESPONSES, InvalidField

log = logging.getLogger("firstline.web")
router = APIRouter(prefix="/api/sessions", tags=["events"], responses=ERROR_RESPONSES)

POLL_S = 0.5
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


@router.get("/{session_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "SSE: id = seq, event = type, data = the event as JSON"}})
async def events(session_id: str, request: Request, engine: EngineDep, notifier: NotifierDep,
                 after: int | None = Query(None, ge=0, le=MAX_SEQ, description="resume after this seq (Last-Event-ID wins)"),
                 last_event_id: str | None = Header(None, alias="Last-Event-ID")) -> EventSourceResponse:
    """Every event of the session in seq order: first the stored ones after the resume point, then live."""
    start = _resume_point(last_event_id, after)
    await asyncio.to_thread(_exists, engine, session_id)
    return EventSourceResponse(_stream(engine, notifier, request, session_id, start), ping=PING_S,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _stream(engine: Engine, notifier: store.Notifier, request: Request, session_id: str,
                  last: int) -> AsyncIterator[dict]:
    retry: int | None = RETRY_MS
    with notifier.subscribe(session_id) as sub:
        while True:
            sub.flag.clear()
            rows = sub.take_after(last)  # what this process just committed, if it continues our stream
            if rows is None:
                try:
                    rows = await asyncio.to_thread(_fetch, engine, session_id, last)
                except Exception as exc:  # noqa: BLE001 - DB hiccup: keep the stream, retry
                    log.warning("event stream for %s: %s", session_id, exc)
                    rows = []
                    await asyncio.sleep(POLL_S)
            for ev in rows:
                last = ev["seq"]
                out = {"id": str(ev["seq"]), "event": ev["type"], "data": json.dumps(ev, separators=(",", ":"))}
                if retry is not None:
                    out["retry"], retry = retry, None  # reconnect quickly after a network blip
                yield out
            if len(rows) == BATCH:
                continue
            if await request.is_disconnected():
                return
            if not sub.pending:
                await wait_flag(sub.flag, POLL_S)
