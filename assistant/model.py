"""The Model seam: what the agent loop asks of any model, and the values it gets back.

A model takes the conversation (OpenAI-style messages) and the offered tool schemas and yields text
deltas, ending with exactly one `Completion` (tool calls, usage, cost). Implementations:
`runbook.model.RunbookModel` (offline, in-process), `llm.LiteLLMModel` (any litellm provider, in-process),
`gateway.GatewayModel` (litellm in the server's child process) and, in tests only, `ScriptedModel`.
Which one answers a model string is decided once, by `providers.Providers`, and travels on the turn's
context: nothing in the loop branches on a model's name or reads a global.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class ToolCallRequest:
    id: str
    name: str
    arguments: str
    """Raw JSON text as the model produced it; parsed (and rejected) by the loop."""
    from_text: bool = False
    """The model wrote this call in its text (a JSON object) instead of a native tool call."""


@dataclass
class Completion:
    text: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


class ModelError(RuntimeError):
    """A model call that failed in a way the engineer can act on; `hint` says how."""

    def __init__(self, message: str, hint: str | None = None, kind: str = "model_error") -> None:
        super().__init__(message)
        self.hint = hint
        self.kind = kind


@runtime_checkable
class Model(Protocol):
    name: str
    """The model string the engineer chose (shown in events, stored on the session)."""

    def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[str | Completion]:
        """Text deltas, then exactly one Completion. Raises ModelError on failure."""
        ...

    async def context_window(self) -> int | None:
        """The model's window in tokens, when the implementation knows it better than `window.py`."""
        ...
