"""`firstline/runbook` as a litellm provider, for anyone who calls litellm with it (the eval judge, a script).

The agent loop does not come this way: it calls `reply.think` directly, because litellm's stream wrapper
costs more per call than the offline model's thinking (measured in bench/RESULTS.md). Through either path
the answer is the same `Reply`: text deltas, OpenAI-style tool calls, a finish reason and token usage.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm import CustomLLM
from litellm.types.utils import (
    ChatCompletionMessageToolCall,
    Function,
    GenericStreamingChunk,
    Message,
    Usage,
)

from assistant.runbook.reply import Reply, reply, think


def _chunk(
    text: str = "", tool_use: dict | None = None, finish: str = "", usage: dict | None = None
) -> GenericStreamingChunk:
    return GenericStreamingChunk(
        text=text, tool_use=tool_use, is_finished=bool(finish), finish_reason=finish, usage=usage, index=0
    )  # type: ignore[typeddict-item]


def _chunks(answer: Reply) -> Iterator[GenericStreamingChunk]:
    for piece in answer.pieces():
        yield _chunk(text=piece)
    for call in answer.calls:
        yield _chunk(tool_use=call)
    yield _chunk(finish=answer.finish_reason, usage=answer.usage)


def _response(model_response: Any, model: str, answer: Reply) -> Any:
    tool_calls = [
        ChatCompletionMessageToolCall(
            id=c["id"],
            type="function",
            function=Function(name=c["function"]["name"], arguments=c["function"]["arguments"]),
        )
        for c in answer.calls
    ] or None
    choice = model_response.choices[0]
    choice.message = Message(content=answer.text or None, role="assistant", tool_calls=tool_calls)
    choice.finish_reason = answer.finish_reason
    model_response.model = model
    model_response.usage = Usage(**answer.usage)  # type: ignore[attr-defined]
    return model_response


def _tools(optional_params: dict[str, Any] | None) -> list[dict[str, Any]]:
    return (optional_params or {}).get("tools") or []


class RunbookLLM(CustomLLM):
    """Deterministic, offline troubleshooting model: a runbook reader that calls tools and cites evidence."""

    def completion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):
        return _response(model_response, model, reply(messages, _tools(optional_params)))

    async def acompletion(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ):
        return _response(model_response, model, await think(messages, _tools(optional_params)))

    def streaming(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ) -> Iterator[GenericStreamingChunk]:
        yield from _chunks(reply(messages, _tools(optional_params)))

    async def astreaming(
        self,
        model,
        messages,
        api_base,
        custom_prompt_dict,
        model_response,
        print_verbose,
        encoding,
        api_key,
        logging_obj,
        optional_params,
        *args,
        **kwargs,
    ) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in _chunks(await think(messages, _tools(optional_params))):
            yield chunk
