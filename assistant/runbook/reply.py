"""The runbook model's answer to one request, as a hosted model would give it: streamed text pieces,
OpenAI-style tool calls, a finish reason and token usage (cl100k_base, counted offline).

No litellm here: the agent loop calls `think` directly (`assistant/llm.py`), and the litellm provider
(`provider.py`) wraps the same `reply` for anyone who calls litellm itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from assistant import cpu
from assistant.runbook.conversation import parse
from assistant.runbook.fleet import decide_fleet, fleet_hosts
from assistant.runbook.planner import Decision, decide
from assistant.tokens import count_tokens
from assistant.window import message_tokens

log = logging.getLogger("assistant.runbook")


@dataclass(frozen=True)
class Reply:
    text: str
    calls: list[dict[str, Any]]
    """OpenAI-style tool calls: {"id", "type": "function", "index", "function": {"name", "arguments"}}."""
    usage: dict[str, int]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else "stop"

    def pieces(self, size: int = 48) -> Iterator[str]:
        """The text in small word-aligned deltas, like a provider streams it."""
        buf = ""
        for word in self.text.split(" "):
            piece = word if not buf else " " + word
            if len(buf) + len(piece) > size and buf:
                yield buf
                buf = " " + word
            else:
                buf += piece
        if buf:
            yield buf


def reply(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Reply:
    """Think about `messages` with the offered `tools` and answer. Never raises: an internal error becomes
    an answer that says so, so a session is never taken down by the offline model."""
    tools = tools or []
    try:
        conv = parse(messages, tools)
        hosts = fleet_hosts(conv)
        decision = decide_fleet(conv, hosts) if hosts else decide(conv)
    except Exception as exc:
        log.exception("runbook model failed")
        decision = Decision(
            f"The offline runbook model hit an internal error ({type(exc).__name__}: {exc}). "
            "No diagnosis was made; please report this, or switch to another model."
        )
    calls = [
        {
            "id": _call_id(messages, i, c.name, c.args),
            "type": "function",
            "index": i,
            "function": {"name": c.name, "arguments": json.dumps(c.args, sort_keys=True)},
        }
        for i, c in enumerate(decision.calls)
    ]
    return Reply(decision.text, calls, _usage(messages, tools, decision.text, calls))


def _call_id(messages: list[dict[str, Any]], index: int, name: str, args: dict[str, Any]) -> str:
    seed = json.dumps([len(messages), index, name, args], sort_keys=True, default=str)
    return "call_" + hashlib.sha1(seed.encode()).hexdigest()[:20]


def _usage(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]], text: str, calls: list[dict[str, Any]]
) -> dict[str, int]:
    # Per message, so each count is remembered across steps (the whole prompt as one text never repeats).
    prompt = sum(message_tokens(m) for m in messages) + count_tokens(json.dumps(tools))
    completion = count_tokens(
        text + "".join(c["function"]["arguments"] + c["function"]["name"] for c in calls)
    )
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="runbook")


async def think(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, *, offload: bool = False
) -> Reply:
    """`reply`; when `offload` (the server), in a thread of the model's own, like a remote model: the event
    loop keeps serving (SSE, other turns) meanwhile, and the model's CPU never queues in front of the loop's
    database work."""
    return await cpu.run(offload, reply, messages, tools, executor=_EXECUTOR)
