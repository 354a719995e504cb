"""The node's connection loop: dial out, register, serve calls, reconnect with backoff and jitter.

Each call runs through `tools.runner.run_tool` on a `LocalTarget` configured with the
node's own log roots and HTTP allow-list, after the node's policy and (for writes) a
signed approval were checked. Calls run concurrently (up to the policy's limit); every
result goes back by call id. If the link drops, calls in flight finish locally and their
results are dropped (the server has already answered the turn with an error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tools.base import Risk, ToolArgError, ToolResult
from tools.catalog import TOOLS
from tools.node import protocol as p
from tools.node.approval import ApprovalLedger, load_public_key
from tools.node.config import NodeConfig
from tools.node.facts import host_facts, version
from tools.runner import run_tool
from tools.targets.base import TargetConfig
from tools.targets.local import LocalTarget

log = logging.getLogger("firstline.node")


class NodeRefused(RuntimeError):
    """The server refused this node's token (unknown or revoked): retrying cannot help."""


class Backoff:
    """Exponential backoff with full jitter: a restarted server is not hit by every node at once."""

    def __init__(self, first_s: float = 0.25, max_s: float = 15.0) -> None:
        self.first_s, self.max_s, self.attempt = first_s, max_s, 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.first_s * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class Node:
    """One node: its policy, its local target, its ledger of spent approvals."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.policy = config.policy
        self.target = LocalTarget(
            config.name, TargetConfig(log_roots=self.policy.log_roots, http_allow=self.policy.http_allow)
        )
        self.ledger = ApprovalLedger(load_public_key(config.server_key), config.name)
        self.slots = asyncio.Semaphore(self.policy.max_concurrent_calls)

    def hello(self) -> p.Hello:
        allowed = [t for t in self.policy.allow_tools if self.target.supports(t)]
        if self.policy.read_only:
            allowed = [t for t in allowed if TOOLS[t].risk is Risk.READ]
        return p.Hello(
            name=self.config.name,
            version=version(),
            labels=self.config.labels,
            facts=host_facts(),
            policy={
                "allow_tools": allowed,
                "read_only": self.policy.read_only,
                "log_roots": [str(r) for r in self.policy.log_roots],
                "http_allow": list(self.policy.http_allow),
            },
        )

    def refusal(self, call: p.Call) -> str | None:
        """Why this node will not run `call`, or None. Checked before anything runs."""
        tool = TOOLS.get(call.tool)
        if tool is None or call.tool not in self.policy.allow_tools:
            return f"{call.tool} is not allowed on node {self.config.name}"
        if tool.risk is Risk.WRITE and self.policy.read_only:
            return f"node {self.config.name} is read-only; {call.tool} was not run"
        try:
            args = tool.validate_args(call.args).model_dump(exclude_none=True)
        except ToolArgError as exc:
            return str(exc)
        limited = self.policy.arg_violation(call.tool, args)
        if limited is not None or tool.risk is not Risk.WRITE:
            return limited
        if call.approval is None:
            return f"{call.tool} is a write action and the call carries no signed approval; it was not run"
        a = call.approval
        return self.ledger.check(call.tool, args, a.approval_id, a.expires_at, a.signature)

    async def handle(self, call: p.Call) -> ToolResult:
        async with self.slots:
            problem = self.refusal(call)
            if problem is not None:
                result = _refused(call, self.config.name, problem)
            else:
                result = await run_tool(
                    self.target, call.tool, call.args, approved=TOOLS[call.tool].risk is Risk.WRITE
                )
        _audit_line(self.config.name, call, result)
        return result


def _refused(call: p.Call, node: str, problem: str) -> ToolResult:
    from datetime import UTC, datetime

    return ToolResult(
        tool=call.tool,
        args=call.args,
        ok=False,
        output="",
        target=node,
        started_at=datetime.now(UTC),
        error=f"refused by node {node}: {problem}",
    )


def _audit_line(node: str, call: p.Call, result: ToolResult) -> None:
    """One JSON line per call on stderr (the journal under systemd): the host's own record."""
    line = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "node": node,
        "call": call.id,
        "tool": call.tool,
        "args": result.args,
        "approval_id": call.approval.approval_id if call.approval else None,
        "command": result.command,
        "ok": result.ok,
        "exit_code": result.exit_code,
        "output_sha256": result.output_sha256,
        "error": result.error,
    }
    print(json.dumps(line, default=str), file=sys.stderr, flush=True)


def _ssl_context(config: NodeConfig) -> ssl.SSLContext | None:
    if not config.ws_url().startswith("wss://"):
        return None
    return ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)


async def serve_connection(node: Node, ws: ClientConnection) -> None:
    """Register, then answer calls until the connection ends."""
    await ws.send(p.dump(node.hello()))
    welcome = p.parse(await asyncio.wait_for(ws.recv(), timeout=10))
    if not isinstance(welcome, p.Welcome) or welcome.node != node.config.name:
        raise NodeRefused(f"the server did not welcome this node as {node.config.name!r}")
    log.warning("node %s connected to %s", node.config.name, node.config.ws_url())
    tasks: set[asyncio.Task[None]] = set()
    beat = asyncio.create_task(_heartbeats(ws, welcome.heartbeat_s))
    try:
        async for frame in ws:
            msg = p.parse(frame)
            if isinstance(msg, p.Call):
                task = asyncio.create_task(_answer(node, ws, msg))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    finally:
        beat.cancel()


async def _answer(node: Node, ws: ClientConnection, call: p.Call) -> None:
    result = await node.handle(call)
    try:
        await ws.send(p.dump(p.Result(id=call.id, result=result.model_dump(mode="json"))))
    except ConnectionClosed:
        log.warning("call %s finished after the link dropped; its result is lost", call.id)


async def _heartbeats(ws: ClientConnection, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await ws.send(p.dump(p.Heartbeat()))


async def run_node(config: NodeConfig, stop: asyncio.Event | None = None) -> None:
    """Stay connected until `stop` is set; raise NodeRefused when the token is refused or revoked."""
    node, backoff = Node(config), Backoff(max_s=config.backoff_max_s)
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            async with connect(
                config.ws_url(),
                additional_headers={"Authorization": f"Bearer {config.token}"},
                ssl=_ssl_context(config),
                proxy=True,
                open_timeout=10,
                close_timeout=2,
                max_size=p.MAX_FRAME,
                ping_interval=config.heartbeat_s,
                ping_timeout=config.heartbeat_s * 2,
            ) as ws:
                backoff.reset()
                session = asyncio.create_task(serve_connection(node, ws))
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not session.done():
                    session.cancel()
                    return
                session.result()
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                raise NodeRefused(
                    f"the server refused this node's token (HTTP {exc.response.status_code})"
                ) from None
            log.warning("connect: %s", exc)
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == p.REVOKED:
                raise NodeRefused("this node's token was revoked") from None
            log.warning("link closed: %s", exc)
        except (OSError, TimeoutError, InvalidHandshake, p.ProtocolError) as exc:
            log.warning("link: %s: %s", type(exc).__name__, exc)
        delay = backoff.next_delay()
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass


def main_sync(config: NodeConfig) -> int:
    """`firstline node run`: 0 on a clean stop, 3 when the token is refused (systemd will not restart it)."""
    import signal

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s firstline-node %(levelname)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_node(config, stop)

    try:
        asyncio.run(main())
    except NodeRefused as exc:
        log.error("%s", exc)
        return 3
    return 0
