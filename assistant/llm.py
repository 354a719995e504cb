"""`LiteLLMModel`: one streamed model call through litellm, whatever the provider.

Yields text deltas as they arrive and ends with a `Completion` holding the
assembled text, tool calls and usage. Retries rate limits, timeouts and outages
with backoff; turns every other failure into a `ModelError` that says what to do.
litellm is imported on the first call (3+ s of imports the offline demo never needs).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from assistant.model import Completion, ModelError, ToolCallRequest
from assistant.runbook import is_runbook
from assistant.tokens import count_tokens
from assistant.transcript import for_provider

__all__ = ["Completion", "LiteLLMModel", "ModelError", "ToolCallRequest", "load_litellm", "stream_completion"]


def load_litellm() -> Any:
    """litellm, configured for Firstline; imported on first use. Blocking (seconds the first time):
    async callers go through `_litellm()`."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


async def _litellm() -> Any:
    if "litellm" in sys.modules:
        return load_litellm()
    return await asyncio.to_thread(load_litellm)  # the first import must not stall the event loop


def _retryable(litellm: Any) -> tuple[type[Exception], ...]:
    return (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
    )


def ensure_providers(model: str) -> None:
    """Register Firstline's own offline model with litellm when it is asked for through litellm (idempotent)."""
    if is_runbook(model):
        from assistant.runbook import register

        register()


def explain(exc: Exception, model: str, api_base: str | None) -> ModelError:
    """Map a provider failure to a message an engineer can act on at 3 AM."""
    litellm = load_litellm()
    name = type(exc).__name__
    if isinstance(exc, litellm.AuthenticationError):
        return ModelError(
            f"The provider rejected the credentials for {model}.",
            "Set the provider's key (e.g. OPENAI_API_KEY, ANTHROPIC_API_KEY) and try again, "
            "or use the offline model firstline/runbook.",
            "auth",
        )
    if isinstance(exc, litellm.NotFoundError) or "LLM Provider NOT provided" in str(exc):
        return ModelError(
            f"Unknown model {model!r}.",
            "Use a litellm model string such as openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest "
            "or ollama/llama3.1 (FIRSTLINE_MODEL or the model picker).",
            "unknown_model",
        )
    if isinstance(exc, litellm.RateLimitError):
        return ModelError(
            f"{model} is rate limited and retries ran out.", "Wait a minute or switch model.", "rate_limit"
        )
    if isinstance(exc, (litellm.Timeout, asyncio.TimeoutError)):
        return ModelError(
            f"{model} did not answer in time.", "Retry, or raise FIRSTLINE_MODEL_TIMEOUT_S.", "timeout"
        )
    if isinstance(exc, litellm.APIConnectionError):
        where = f" at {api_base}" if api_base else ""
        return ModelError(
            f"Cannot reach the provider for {model}{where}.",
            "Check the network or that the local model server is running (FIRSTLINE_API_BASE).",
            "connection",
        )
    if isinstance(exc, (litellm.InternalServerError, litellm.ServiceUnavailableError)):
        return ModelError(
            f"The provider for {model} is failing ({name}).", "Retry later or switch model.", "outage"
        )
    return ModelError(
        f"The model call failed: {name}: {str(exc)[:300]}", "Check the model name and provider settings."
    )


def _cost(model: str, prompt: int, completion: int) -> float | None:
    try:
        p, c = load_litellm().cost_per_token(model=model, prompt_tokens=prompt, completion_tokens=completion)
        return round(p + c, 6)
    except Exception:  # noqa: BLE001 - litellm does not know every model's price; that is fine
        return None


def _merge_tool_delta(acc: dict[int, dict[str, str]], delta_calls: Any) -> None:
    for tc in delta_calls or []:
        idx = getattr(tc, "index", None) or 0
        slot = acc.setdefault(idx, {"id": "", "name": "", "arguments": ""})
        if getattr(tc, "id", None):
            slot["id"] = tc.id
        fn = getattr(tc, "function", None)
        if fn is not None:
            if getattr(fn, "name", None):
                slot["name"] = fn.name
            if getattr(fn, "arguments", None):
                slot["arguments"] += fn.arguments


def _finish(completion: Completion, acc: dict[int, dict[str, str]], messages: list[dict], model: str) -> None:
    for i, slot in sorted(acc.items()):
        if slot["name"]:
            completion.tool_calls.append(
                ToolCallRequest(
                    id=slot["id"] or f"call_{i}", name=slot["name"], arguments=slot["arguments"] or "{}"
                )
            )
    if not completion.prompt_tokens:
        completion.prompt_tokens = sum(count_tokens(json.dumps(m, default=str)) for m in messages)
    if not completion.completion_tokens:
        completion.completion_tokens = count_tokens(completion.text) + sum(
            count_tokens(c.arguments) for c in completion.tool_calls
        )
    completion.cost_usd = _cost(model, completion.prompt_tokens, completion.completion_tokens)


def _stream_logging_wanted() -> bool:
    """litellm's per-stream success logging (a deepcopy of the request plus a cost lookup, on the event loop)
    exists only to feed litellm callbacks. Firstline registers none and prices calls itself (`_cost`), so it
    runs only when someone configured a callback (Langfuse, a custom logger...)."""
    litellm = load_litellm()
    return any(
        getattr(litellm, name, None)
        for name in (
            "callbacks",
            "success_callback",
            "_async_success_callback",
            "input_callback",
            "service_callback",
        )
    )


async def _once_streamed(kwargs: dict[str, Any]) -> AsyncIterator[str | Completion]:
    litellm = await _litellm()
    completion = Completion()
    acc: dict[int, dict[str, str]] = {}
    chunks = 0
    litellm.disable_streaming_logging = not _stream_logging_wanted()
    response = await litellm.acompletion(stream=True, **kwargs)
    async for chunk in response:
        chunks += 1
        usage = getattr(chunk, "usage", None)
        if usage:
            completion.prompt_tokens = getattr(usage, "prompt_tokens", 0) or completion.prompt_tokens
            completion.completion_tokens = (
                getattr(usage, "completion_tokens", 0) or completion.completion_tokens
            )
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta is None:
            continue
        if getattr(delta, "content", None):
            completion.text += delta.content
            yield delta.content
        _merge_tool_delta(acc, getattr(delta, "tool_calls", None))
    if not completion.text and not acc:
        raise _EmptyStream(f"empty stream after {chunks} chunks")
    _finish(completion, acc, kwargs["messages"], kwargs["model"])
    yield completion


async def _once_blocking(kwargs: dict[str, Any]) -> Completion:
    """Fallback for servers that cannot stream (e.g. llama.cpp with tool_choice=auto)."""
    litellm = await _litellm()
    response = await litellm.acompletion(stream=False, **kwargs)
    msg = response.choices[0].message
    completion = Completion(text=msg.content or "")
    acc: dict[int, dict[str, str]] = {}
    for i, tc in enumerate(getattr(msg, "tool_calls", None) or []):
        acc[i] = {
            "id": tc.id or f"call_{i}",
            "name": tc.function.name or "",
            "arguments": tc.function.arguments or "",
        }
    usage = getattr(response, "usage", None)
    if usage:
        completion.prompt_tokens = usage.prompt_tokens or 0
        completion.completion_tokens = usage.completion_tokens or 0
    _finish(completion, acc, kwargs["messages"], kwargs["model"])
    return completion


class _EmptyStream(Exception):
    pass


async def stream_completion(
    *,
    model: str,
    messages: list[dict],
    tools: list[dict] | None,
    api_base: str | None = None,
    timeout_s: float = 120.0,
    retries: int = 3,
    extra: dict[str, Any] | None = None,
) -> AsyncIterator[str | Completion]:
    """Yield text deltas, then exactly one Completion. Raises ModelError on failure."""
    kwargs: dict[str, Any] = {"model": model, "messages": messages, "timeout": timeout_s, **(extra or {})}
    if tools:
        kwargs["tools"] = tools
    if is_runbook(model):
        await asyncio.to_thread(ensure_providers, model)  # asked through litellm: its custom provider answers
    if api_base:
        kwargs["api_base"] = api_base
    for attempt in range(retries + 1):
        streamed_any = False
        try:
            async for item in _once_streamed(kwargs):
                streamed_any = True
                yield item
            return
        except _EmptyStream:
            try:
                yield await _once_blocking(kwargs)
                return
            except Exception as exc:  # noqa: BLE001 - mapped below
                err: Exception = exc
        except Exception as exc:  # noqa: BLE001 - mapped below
            err = exc
        if streamed_any or not isinstance(err, _retryable(load_litellm())) or attempt == retries:
            raise explain(err, model, api_base) from err
        await asyncio.sleep(min(0.5 * 2**attempt, 8.0))


class LiteLLMModel:
    """Any litellm provider, called in this process (the CLI and `firstline eval`)."""

    def __init__(
        self,
        name: str,
        *,
        api_base: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.name, self.api_base, self.timeout_s, self.retries = name, api_base, timeout_s, retries
        self.extra = dict(extra or {})

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[str | Completion]:
        return stream_completion(
            model=self.name,
            messages=for_provider(messages),
            tools=tools,
            api_base=self.api_base,
            timeout_s=self.timeout_s,
            retries=self.retries,
            extra=self.extra,
        )

    async def context_window(self) -> int | None:
        return None  # window.context_limit asks litellm's bundled map in this process
