"""`firstline/runbook` as a litellm provider: same calls, same streamed chunks as a hosted model.

The loop cannot tell it from OpenAI or Ollama: text deltas, OpenAI-style tool calls,
a finish reason and token usage (cl100k_base, counted offline).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm import CustomLLM
from litellm.types.utils import ChatCompletionMessageToolCall, Function, GenericStreamingChunk, Message, Usage

from assistant.runbook.conversation import parse
from assistant.runbook.planner import Decision, decide
from assistant.tokens import count_tokens
from assistant.window import message_tokens

log = logging.getLogger(__name__)
PROVIDER = "firstline"


def _decide(messages: list[dict[str, Any]], optional_params: dict[str, Any] | None) -> Decision:
    tools = (optional_params or {}).get("tools") or []
    try:
        return decide(parse(messages, tools))
    except Exception as exc:  # never take the session down: say what happened instead
        log.exception("runbook model failed")
        return Decision(f"The offline runbook model hit an internal error ({type(exc).__name__}: {exc}). "
                        "No diagnosis was made; please report this, or switch to another model.")


def _call_id(messages: list[dict[str, Any]], index: int, name: str, args: dict[str, Any]) -> str:
    seed = json.dumps([len(messages), index, name, args], sort_keys=True, default=str)
    return "call_" + hashlib.sha1(seed.encode()).hexdigest()[:20]


def _tool_calls(messages: list[dict[str, Any]], decision: Decision) -> list[dict[str, Any]]:
    return [{"id": _call_id(messages, i, c.name, c.args), "type": "function", "index": i,
             "function": {"name": c.name, "arguments": json.dumps(c.args, sort_keys=True)}}
            for i, c in enumerate(decision.calls)]


def _usage(messages: list[dict[str, Any]], optional_params: dict[str, Any] | None, decision: Decision,
           calls: list[dict[str, Any]]) -> dict[str, int]:
    # Per message, so each count is remembered across steps (the whole prompt as one text never repeats).
    prompt = (sum(message_tokens(m) for m in messages)
              + count_tokens(json.dumps((optional_params or {}).get("tools") or [])))
    completion_text = decision.text + "".join(c["function"]["arguments"] + c["function"]["name"] for c in calls)
    completion = count_tokens(completion_text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _pieces(text: str, size: int = 48) -> Iterator[str]:
    """Text in small word-aligned deltas, like a provider streams it."""
    buf = ""
    for word in text.split(" "):
        piece = word if not buf else " " + word
        if len(buf) + len(piece) > size and buf:
            yield buf
            buf = " " + word
        else:
            buf += piece
    if buf:
        yield buf


def _chunk(text: str = "", tool_use: dict | None = None, finish: str = "", usage: dict | None = None
           ) -> GenericStreamingChunk:
    return GenericStreamingChunk(text=text, tool_use=tool_use, is_finished=bool(finish), finish_reason=finish,
                                 usage=usage, index=0)  # type: ignore[typeddict-item]


def _chunks(messages: list[dict[str, Any]], optional_params: dict[str, Any] | None) -> Iterator[GenericStreamingChunk]:
    decision = _decide(messages, optional_params)
    calls = _tool_calls(messages, decision)
    for piece in _pieces(decision.text):
        yield _chunk(text=piece)
    for call in calls:
        yield _chunk(tool_use=call)
    usage = _usage(messages, optional_params, decision, calls)
    yield _chunk(finish="tool_calls" if calls else "stop", usage=usage)  # type: ignore[arg-type]


def _response(model_response: Any, model: str, messages: list[dict[str, Any]],
              optional_params: dict[str, Any] | None) -> Any:
    decision = _decide(messages, optional_params)
    calls = _tool_calls(messages, decision)
    tool_calls = [ChatCompletionMessageToolCall(id=c["id"], type="function",
                                                function=Function(name=c["function"]["name"],
                                                                  arguments=c["function"]["arguments"]))
                  for c in calls] or None
    choice = model_response.choices[0]
    choice.message = Message(content=decision.text or None, role="assistant", tool_calls=tool_calls)
    choice.finish_reason = "tool_calls" if calls else "stop"
    model_response.model = model
    model_response.usage = Usage(**_usage(messages, optional_params, decision, calls))  # type: ignore[attr-defined]
    return model_response


_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="runbook")


async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
    """Think in a thread of the model's own, like a remote model: the caller's event loop keeps serving
    (SSE, other turns) meanwhile, and the model's CPU never queues in front of the loop's database work."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, fn, *args)


class RunbookLLM(CustomLLM):
    """Deterministic, offline troubleshooting model: a runbook reader that calls tools and cites evidence."""

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                   api_key, logging_obj, optional_params, *args, **kwargs):
        return _response(model_response, model, messages, optional_params)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                          encoding, api_key, logging_obj, optional_params, *args, **kwargs):
        return await _off_loop(_response, model_response, model, messages, optional_params)

    def streaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                  api_key, logging_obj, optional_params, *args, **kwargs) -> Iterator[GenericStreamingChunk]:
        yield from _chunks(messages, optional_params)

    async def astreaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                         encoding, api_key, logging_obj, optional_params, *args, **kwargs
                         ) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in await _off_loop(lambda: list(_chunks(messages, optional_params))):
            yield chunk
