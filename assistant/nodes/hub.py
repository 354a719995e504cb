"""The nodes connected to this server process, each a WebSocket link with its calls in flight.

A call waits for its result by call id. When the link drops (closed, reset, silent for
three heartbeats, revoked, replaced by a newer connection) every call in flight fails at
once with an error naming the node, so a turn never hangs on a vanished host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy.engine import Engine
from starlette.websockets import WebSocket, WebSocketDisconnect

from assistant import metrics, store
from assistant.nodes import registry
from tools.node import protocol as p

log = logging.getLogger("firstline.nodes")


class NodeCallError(RuntimeError):
    """The call could not reach the node or got no answer; becomes the tool's error result."""


def replica_id() -> str:
    """This server process, as other replicas and `firstline nodes` see it."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class NodeLink:
    def __init__(self, ws: WebSocket, name: str, token_id: str) -> None:
        self.ws, self.name, self.token_id = ws, name, token_id
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.seen = time.monotonic()
        self.closed = False

    async def call(self, call: p.Call, timeout_s: float) -> dict[str, Any]:
        """The node's ToolResult (JSON) for `call`; NodeCallError if the link drops or time runs out."""
        if self.closed:
            raise NodeCallError(f"the link to node {self.name} is closed")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[call.id] = fut
        try:
            await self.ws.send_text(p.dump(call))
            return await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise NodeCallError(f"node {self.name} did not answer within {timeout_s:g}s") from None
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            if isinstance(exc, NodeCallError):
                raise
            raise NodeCallError(f"the link to node {self.name} dropped during the call ({exc})") from None
        finally:
            self.pending.pop(call.id, None)

    def resolve(self, result: p.Result) -> None:
        fut = self.pending.get(result.id)
        if fut is not None and not fut.done():
            fut.set_result(result.result)

    def drop(self, reason: str) -> None:
        self.closed = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(NodeCallError(reason))

    async def close(self, code: int, reason: str) -> None:
        self.drop(f"the link to node {self.name} was closed: {reason}")
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)


OnConnect = Callable[[str], Coroutine[Any, Any, None]]


class NodeHub:
    """Accepts node connections (web/routes/nodes.py hands each WebSocket to `serve`)."""

    def __init__(self, engine_fn: Callable[[], Awaitable[Engine]], heartbeat_s: float = 10.0) -> None:
        self.engine_fn, self.heartbeat_s = engine_fn, heartbeat_s
        self.replica = replica_id()
        self.links: dict[str, NodeLink] = {}
        self.on_connect: list[OnConnect] = []
        self._watch: asyncio.Task | None = None
        self._background: set[asyncio.Task[Any]] = set()

    async def serve(self, ws: WebSocket) -> None:
        engine = await self.engine_fn()
        token = _bearer(ws.headers.get("authorization"))
        row = await asyncio.to_thread(_authenticate, engine, token)
        if row is None:
            await ws.close(code=1008)  # before accept: the node sees HTTP 403
            return
        await ws.accept()
        try:
            hello = p.parse(await asyncio.wait_for(ws.receive_text(), 10))
        except (TimeoutError, p.ProtocolError, WebSocketDisconnect):
            await _quiet_close(ws, 1002, "expected hello")
            return
        if not isinstance(hello, p.Hello) or hello.name != row.name:
            await _quiet_close(ws, 1008, f"this token belongs to node {row.name}")
            return
        link = await self._attach(engine, ws, row, hello)
        try:
            await self._receive(link)
        finally:
            await self._detach(engine, link)

    async def _attach(self, engine: Engine, ws: WebSocket, row: Any, hello: p.Hello) -> NodeLink:
        await asyncio.to_thread(_record_hello, engine, row.name, self.replica, hello)
        link = NodeLink(ws, row.name, row.token_id)
        old = self.links.get(row.name)
        self.links[row.name] = link
        metrics.set_nodes_connected(len(self.links))
        if old is not None:
            self.spawn(old.close(p.REPLACED, "replaced by a newer connection"))
        await ws.send_text(p.dump(p.Welcome(node=row.name, heartbeat_s=self.heartbeat_s)))
        self._ensure_watch()
        for hook in self.on_connect:
            self.spawn(hook(row.name))
        return link

    async def _receive(self, link: NodeLink) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                msg = p.parse(await link.ws.receive_text())
                link.seen = time.monotonic()
                if isinstance(msg, p.Result):
                    link.resolve(msg)

    async def _detach(self, engine: Engine, link: NodeLink) -> None:
        link.drop(f"the link to node {link.name} dropped during the call")
        if self.links.get(link.name) is link:
            del self.links[link.name]
            metrics.set_nodes_connected(len(self.links))
            with contextlib.suppress(Exception):
                await asyncio.to_thread(_disconnected, engine, link.name, self.replica)

    async def evict(self, link: NodeLink, code: int, reason: str) -> None:
        """Fail its calls and forget it now; the socket is closed in the background (a cut cable never answers)."""
        link.drop(f"the link to node {link.name} was closed: {reason}")
        if self.links.get(link.name) is link:
            del self.links[link.name]
            metrics.set_nodes_connected(len(self.links))
            with contextlib.suppress(Exception):
                await asyncio.to_thread(_disconnected, await self.engine_fn(), link.name, self.replica)
        self.spawn(link.close(code, reason))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run in the background, keeping a reference until done (the loop holds tasks only weakly)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def revoke(self, name: str) -> bool:
        link = self.links.get(name)
        if link is None:
            return False
        await self.evict(link, p.REVOKED, "token revoked")
        return True

    def _ensure_watch(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._watch_links(), name="node-links")

    async def _watch_links(self) -> None:
        """Every heartbeat: drop silent links, close revoked tokens (a CLI revoke on SQLite), refresh last_seen."""
        while self.links:
            await asyncio.sleep(self.heartbeat_s)
            now = time.monotonic()
            for link in list(self.links.values()):
                if now - link.seen > 3 * self.heartbeat_s:
                    await self.evict(link, 1001, f"no heartbeat for {3 * self.heartbeat_s:g}s")
            checked = list(self.links.values())  # links that connect meanwhile were just authenticated
            try:
                engine = await self.engine_fn()
                valid = await asyncio.to_thread(_still_valid, engine, checked, self.replica)
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; links stay up
                log.warning("node watch: %s", exc)
                continue
            for link in checked:
                if link.name not in valid and self.links.get(link.name) is link:
                    await self.evict(link, p.REVOKED, "token revoked")

    async def aclose(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for link in list(self.links.values()):
            await link.close(1001, "server shutting down")


def _bearer(header: str | None) -> str:
    scheme, _, value = (header or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _quiet_close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code=code, reason=reason)


def _authenticate(engine: Engine, token: str) -> Any:
    with store.reading(engine) as db:
        return registry.authenticate(db, token)


def _record_hello(engine: Engine, name: str, replica: str, hello: p.Hello) -> None:
    with store.writing(engine) as db:
        registry.record_hello(
            db,
            name=name,
            replica=replica,
            facts=hello.facts,
            policy=hello.policy,
            version=hello.version,
            labels=hello.labels,
        )


def _disconnected(engine: Engine, name: str, replica: str) -> None:
    with store.writing(engine) as db:
        registry.mark_disconnected(db, name=name, replica=replica)


def _still_valid(engine: Engine, links: list[NodeLink], replica: str) -> set[str]:
    with store.writing(engine) as db:
        valid = {
            link.name for link in links if registry.token_valid(db, name=link.name, token_id=link.token_id)
        }
        if valid:
            registry.touch(db, names=sorted(valid), replica=replica)
        return valid
