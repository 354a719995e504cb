"""`ScriptedModel`: the one blessed fake model for in-process loop tests.

It implements the Model seam (assistant/model.py) like any provider: each model step plays the next item
of its script (the last one repeats). An item is reply text, a `Completion` with tool calls (`calls(...)`),
or an exception to raise (a `ModelError`, as a provider failure reaches the loop). It records every prompt
it was sent, so a test can check what the model saw. Tests of litellm's own path use the stand-in
OpenAI-compatible server in tests/fake_openai.py instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from assistant.model import Completion, ToolCallRequest


def calls(*pairs: tuple[str, dict[str, Any] | str], text: str = "") -> Completion:
    """A step that asks for tool calls: ("port_owner", {"port": 80}) or with raw argument text."""
    return Completion(
        text=text,
        tool_calls=[
            ToolCallRequest(
                id=f"m{i}", name=name, arguments=args if isinstance(args, str) else json.dumps(args)
            )
            for i, (name, args) in enumerate(pairs)
        ],
    )


class ScriptedModel:
    def __init__(self, script: list[str | Completion | Exception], name: str = "scripted/test") -> None:
        self.script, self.name = list(script), name
        self.prompts: list[list[dict[str, Any]]] = []
        self.offered: list[list[dict[str, Any]] | None] = []

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[str | Completion]:
        self.prompts.append(messages)
        self.offered.append(tools)
        item = self.script[min(len(self.prompts) - 1, len(self.script) - 1)]
        if isinstance(item, Exception):
            raise item
        completion = (
            Completion(text=item)
            if isinstance(item, str)
            else Completion(text=item.text, tool_calls=list(item.tool_calls))
        )
        if completion.text:
            yield completion.text
        completion.prompt_tokens = sum(len(json.dumps(m)) // 4 for m in messages)
        completion.completion_tokens = max(1, len(completion.text) // 4)
        yield completion

    async def context_window(self) -> int | None:
        return 128_000
