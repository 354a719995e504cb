"""Hosted-model calls in a child process, so that litellm's per-chunk work never takes the server's GIL.

litellm and the OpenAI SDK build several pydantic objects for every streamed chunk: about 0.7 ms of
Python each on the server's event loop, measured with 100 sessions streaming at 50 chunks/s, which held
SSE delivery up for hundreds of ms. The server starts one child (`python -m assistant.gateway`) on the
first hosted-model call; the child runs `llm.stream_completion` (litellm, retries, error mapping) and
sends back JSON lines. The parent's cost per chunk is one short line, and deltas that arrive together
are merged into one, so a busy server sends fewer, larger token events.

Protocol, one JSON object per line. Parent to child: {"id", "call": stream_completion kwargs} and
{"id", "cancel": true}. Child to parent: {"id", "text"}, then {"id", "done": Completion} or
{"id", "error": {"message", "hint", "kind"}}. The child exits when its stdin closes. If it dies, the
calls it was serving end with a ModelError and the next call starts a new child.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from assistant.model import Completion, ModelError, ToolCallRequest
from assistant.transcript import for_provider

log = logging.getLogger("firstline.gateway")
LINE_LIMIT = 64 * 2**20
"""The longest line either side accepts: a whole prompt travels as one line."""


def _completion(obj: dict[str, Any]) -> Completion:
    calls = [ToolCallRequest(**c) for c in obj.pop("tool_calls", [])]
    return Completion(**obj, tool_calls=calls)


class ModelGateway:
    """The parent's side: `stream(**kwargs)` yields what `llm.stream_completion` would, from the child."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._calls: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    async def _child(self) -> asyncio.subprocess.Process:
        async with self._lock:
            gone = (
                self._reader is None or self._reader.done()
            )  # its output ended: dead, even if not yet reaped
            if self._proc is None or self._proc.returncode is not None or gone:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "assistant.gateway",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=LINE_LIMIT,
                )
                self._reader = asyncio.create_task(self._read(self._proc), name="model-gateway-reader")
                log.info("model gateway started (pid %d)", self._proc.pid)
            return self._proc

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                msg = json.loads(line)
                queue = self._calls.get(msg["id"])
                if queue is not None:
                    queue.put_nowait(msg)
        except Exception:
            log.exception("model gateway: unreadable reply")
        finally:
            gone = {
                "error": {
                    "message": "the model gateway process stopped during the call",
                    "kind": "connection",
                    "hint": "Retry; if it keeps happening, see the server log.",
                }
            }
            for queue in self._calls.values():
                queue.put_nowait(gone)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _send(self, proc: asyncio.subprocess.Process, obj: dict[str, Any]) -> None:
        assert proc.stdin is not None
        if not proc.stdin.is_closing():
            proc.stdin.write(json.dumps(obj, default=str).encode() + b"\n")

    async def stream(self, **kwargs: Any) -> AsyncIterator[str | Completion]:
        proc = await self._child()
        call_id = next(self._ids)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._calls[call_id] = queue
        finished = False
        pending: dict[str, Any] | None = None
        try:
            self._send(proc, {"id": call_id, "call": kwargs})
            while True:
                msg, pending = pending or await queue.get(), None
                if "text" in msg:
                    text = msg["text"]
                    while not queue.empty():  # merge the deltas that have already arrived
                        nxt = queue.get_nowait()
                        if "text" not in nxt:
                            pending = nxt
                            break
                        text += nxt["text"]
                    yield text
                elif "done" in msg:
                    finished = True
                    yield _completion(msg["done"])
                    return
                else:
                    finished = True
                    err = msg["error"]
                    raise ModelError(err["message"], err.get("hint"), err.get("kind") or "model_error")
        finally:
            self._calls.pop(call_id, None)
            if not finished:  # the turn was cancelled: stop the provider call too
                self._send(proc, {"id": call_id, "cancel": True})

    async def context_window(self, model: str) -> int:
        """The model's input window as litellm knows it, looked up in the child (the parent has no litellm)."""
        proc = await self._child()
        call_id = next(self._ids)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._calls[call_id] = queue
        try:
            self._send(proc, {"id": call_id, "window": model})
            msg = await queue.get()
        finally:
            self._calls.pop(call_id, None)
        if "window" not in msg:
            raise ModelError(
                msg["error"]["message"], msg["error"].get("hint"), msg["error"].get("kind") or ""
            )
        return int(msg["window"])

    async def warm(self) -> None:
        """Start the child and have it load litellm now, so the first hosted-model turn does not wait for it."""
        self._send(await self._child(), {"id": 0, "warm": True})

    async def aclose(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


class GatewayModel:
    """A hosted model answered through the server's gateway child (same deltas and Completion as litellm's)."""

    def __init__(
        self,
        gateway: ModelGateway,
        name: str,
        *,
        api_base: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.gateway, self.name = gateway, name
        self._call = {
            "model": name,
            "api_base": api_base,
            "timeout_s": timeout_s,
            "retries": retries,
            "extra": dict(extra or {}),
        }

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[str | Completion]:
        return self.gateway.stream(**self._call, messages=for_provider(messages), tools=tools)

    async def context_window(self) -> int | None:
        """Learned from the child, so that `window.context_limit` needs no litellm in the server."""
        return await self.gateway.context_window(self.name)


# ------------------------------------------------------------------ the child


async def _call(call_id: int, kwargs: dict[str, Any], write) -> None:
    from assistant.llm import stream_completion

    try:
        async for item in stream_completion(**kwargs):
            if isinstance(item, str):
                write({"id": call_id, "text": item})
            else:
                write({"id": call_id, "done": dataclasses.asdict(item)})
    except ModelError as exc:
        write({"id": call_id, "error": {"message": str(exc), "hint": exc.hint, "kind": exc.kind}})
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # noqa: BLE001 - reported to the turn, never kills the child
        write(
            {
                "id": call_id,
                "error": {
                    "message": f"the model call failed: {type(exc).__name__}: {exc}",
                    "hint": None,
                    "kind": "model_error",
                },
            }
        )


async def _window(call_id: int, model: str, write) -> None:
    from assistant.window import context_limit

    write({"id": call_id, "window": await asyncio.to_thread(context_limit, model)})


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    out = os.fdopen(os.dup(1), "wb", buffering=0)  # the protocol's own handle...
    os.dup2(2, 1)  # ...and anything a library prints goes to the log, not into the protocol
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def write(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj).encode() + b"\n")

    tasks: dict[int, asyncio.Task] = {}
    while line := await reader.readline():
        msg = json.loads(line)
        call_id = msg["id"]
        if "call" in msg:
            task = asyncio.create_task(_call(call_id, msg["call"], write))
            tasks[call_id] = task
            task.add_done_callback(lambda _t, cid=call_id: tasks.pop(cid, None))
        elif msg.get("cancel") and call_id in tasks:
            tasks[call_id].cancel()
        elif "window" in msg:
            tasks[call_id] = asyncio.create_task(_window(call_id, msg["window"], write))
        elif msg.get("warm"):
            from assistant.llm import load_litellm

            tasks[call_id] = asyncio.create_task(asyncio.to_thread(load_litellm))
    for task in list(tasks.values()):  # the parent went away
        task.cancel()


def _log_like_the_server() -> None:
    """The child shares the server's stderr: its warnings (litellm's too) take the same format."""
    import logging.config

    from assistant.logs import log_config

    config = log_config(os.environ.get("FIRSTLINE_LOG_FORMAT", "auto"), "warning")  # type: ignore[arg-type]  # env text
    if config is not None:
        logging.config.dictConfig(config)


if __name__ == "__main__":
    _log_like_the_server()
    asyncio.run(_serve())
