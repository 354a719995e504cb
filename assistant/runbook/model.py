"""`RunbookModel`: the offline `firstline/runbook` model behind the Model seam.

It is our own code, so it answers in-process with the same deltas and Completion a provider would
give: litellm's stream wrapper cost more per call than its thinking.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from assistant.model import Completion, ToolCallRequest
from assistant.runbook.reply import think


class RunbookModel:
    def __init__(self, name: str, *, offload: bool = False) -> None:
        self.name, self.offload = name, offload

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> AsyncIterator[str | Completion]:
        answer = await think(messages, tools, offload=self.offload)
        for piece in answer.pieces():
            yield piece
        usage = answer.usage
        yield Completion(
            text=answer.text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            cost_usd=0.0,
            tool_calls=[
                ToolCallRequest(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"])
                for c in answer.calls
            ],
        )

    async def context_window(self) -> int | None:
        return None  # window.context_limit knows the runbook's
