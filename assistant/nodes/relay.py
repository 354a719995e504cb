"""Calls for a node connected to another replica, through PostgreSQL: a `node_calls` row plus LISTEN/NOTIFY.

    caller replica                                  replica holding the node's WebSocket
    INSERT node_calls (pending) + NOTIFY calls  ->  claims pending rows for its nodes (UPDATE ... RETURNING),
                                                     runs each over the link, stores the result,
    wakes on NOTIFY results (or a 1 s re-read)  <-  NOTIFY results
The database is already the one thing every replica shares; a row per call is also the
record of who ran what. A caller that gives up marks its row expired, so a late claim
never runs it. Revocations are announced on a third channel so the holding replica
closes the link at once. SQLite (one process) never gets here: calls go to the local hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant import store
from assistant.nodes.hub import NodeCallError, NodeHub
from assistant.store.models import NODE_CALLS
from tools.node import protocol as p

log = logging.getLogger("firstline.nodes.relay")
CALLS, RESULTS, REVOKED = "firstline_node_calls", "firstline_node_results", "firstline_node_revoked"
KEEP = timedelta(days=1)
"""How long finished calls stay in node_calls (the audit log is the lasting record)."""
_T = NODE_CALLS


def libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Relay:
    def __init__(self, engine: Engine, hub: NodeHub | None) -> None:
        self.engine, self.hub = engine, hub
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        if hub is not None:
            hub.on_connect.append(self._serve_node)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="node-relay")
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _listen(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    libpq_url(self.engine), autocommit=True
                ) as conn:
                    for channel in (CALLS, RESULTS, REVOKED):
                        await conn.execute(f"LISTEN {channel}")
                    self._ready.set()
                    delay = 0.5
                    if self.hub is not None:  # calls queued while we were not listening
                        for name in list(self.hub.links):
                            self._spawn(self._serve_node(name))
                    async for note in conn.notifies():
                        self._dispatch(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database went away: listen again when it is back
                log.warning("relay listener: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == RESULTS:
            fut = self.waiting.get(payload)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif channel == CALLS and self.hub is not None and payload in self.hub.links:
            self._spawn(self._serve_node(payload))
        elif channel == REVOKED and self.hub is not None:
            self._spawn(self.hub.revoke(payload))

    # ------------------------------------------------------------ the caller's side

    async def call(self, node: str, call: p.Call, timeout_s: float) -> dict[str, Any]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[call.id] = fut
        try:
            await asyncio.to_thread(_insert, self.engine, node, call, timeout_s)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), min(1.0, max(0.0, deadline - loop.time())))
                row = await asyncio.to_thread(_read, self.engine, call.id)
                if row is not None and row["status"] == "done":
                    return row["result"]
                if loop.time() >= deadline:
                    break
            expired = await asyncio.to_thread(_expire, self.engine, call.id)
            if not expired:  # the result landed just now
                row = await asyncio.to_thread(_read, self.engine, call.id)
                if row is not None and row["status"] == "done":
                    return row["result"]
            raise NodeCallError(f"node {node} (on another replica) did not answer within {timeout_s:g}s")
        finally:
            self.waiting.pop(call.id, None)

    # ------------------------------------------------------------ the holding replica's side

    async def _serve_node(self, name: str) -> None:
        if self.hub is None:
            return
        rows = await asyncio.to_thread(_claim, self.engine, name, self.hub.replica)
        await asyncio.gather(*(self._run(name, r) for r in rows))

    async def _run(self, name: str, row: dict[str, Any]) -> None:
        link = self.hub.links.get(name) if self.hub else None
        call = p.Call(
            id=row["id"],
            tool=row["tool"],
            args=row["args"],
            approval=p.Approval.model_validate(row["approval"]) if row["approval"] else None,
        )
        try:
            if link is None:
                raise NodeCallError(f"node {name} disconnected before the call could be sent")
            result = await link.call(call, row["timeout_s"])
        except NodeCallError as exc:
            result = {
                "tool": row["tool"],
                "args": row["args"],
                "ok": False,
                "error": str(exc),
                "started_at": datetime.now(UTC).isoformat(),
            }
        await asyncio.to_thread(_finish, self.engine, row["id"], result)


def new_call_id() -> str:
    return "nc_" + uuid.uuid4().hex


def _insert(engine: Engine, node: str, call: p.Call, timeout_s: float) -> None:
    with store.writing(engine) as db:
        db.execute(
            sa.insert(_T).values(
                id=call.id,
                node=node,
                tool=call.tool,
                args=call.args,
                timeout_s=timeout_s,
                status="pending",
                approval=call.approval.model_dump() if call.approval else None,
                created_at=datetime.now(UTC),
            )
        )
        db.execute(sa.select(sa.func.pg_notify(CALLS, node)))


def _read(engine: Engine, call_id: str) -> dict[str, Any] | None:
    with store.reading(engine) as db:
        row = db.execute(sa.select(_T.c.status, _T.c.result).where(_T.c.id == call_id)).first()
        return dict(row._mapping) if row else None


def _expire(engine: Engine, call_id: str) -> bool:
    with store.writing(engine) as db:
        res = db.execute(
            sa.update(_T)
            .where(_T.c.id == call_id, _T.c.status.in_(("pending", "running")))
            .values(status="expired", finished_at=datetime.now(UTC))
        )
        return bool(getattr(res, "rowcount", 0))


def _claim(engine: Engine, node: str, replica: str) -> list[dict[str, Any]]:
    with store.writing(engine) as db:
        db.execute(
            sa.delete(_T).where(_T.c.created_at < datetime.now(UTC) - KEEP)
        )  # the mailbox, not an archive
        rows = db.execute(
            sa.update(_T)
            .where(_T.c.node == node, _T.c.status == "pending")
            .values(status="running", claimed_by=replica)
            .returning(_T.c.id, _T.c.tool, _T.c.args, _T.c.approval, _T.c.timeout_s)
        )
        return [dict(r._mapping) for r in rows]


def _finish(engine: Engine, call_id: str, result: dict[str, Any]) -> None:
    with store.writing(engine) as db:
        db.execute(
            sa.update(_T)
            .where(_T.c.id == call_id, _T.c.status == "running")
            .values(status="done", result=result, finished_at=datetime.now(UTC))
        )
        db.execute(sa.select(sa.func.pg_notify(RESULTS, call_id)))


def announce_revoked(engine: Engine, name: str) -> None:
    """Tell every replica (the one holding the node closes its link)."""
    if engine.dialect.name == "postgresql":
        with store.writing(engine) as db:
            db.execute(sa.select(sa.func.pg_notify(REVOKED, name)))
