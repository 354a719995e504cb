"""What one turn counts and remembers, shared by the loop (assistant/loop.py) and the tool-call executor
(assistant/calls.py); here so that neither imports the other's module to reach it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from assistant.context import TurnContext
from assistant.model import Completion
from assistant.verify import Verifier
from assistant.window import context_limit


@dataclass
class TurnState:
    """Everything one turn counts and remembers; shared with the tool-call executor."""

    max_steps: int
    max_tool_calls: int
    steps: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    no_progress: int = 0
    cache: dict[str, object] = field(default_factory=dict)
    finding_keys: set[str] = field(default_factory=set)
    finding_count: int = 0
    finding_ids: list[str] = field(default_factory=list)
    findings: list = field(default_factory=list)
    """Every finding of the session so far: analyzers read them as context (a bind error makes ss meaningful)."""
    started: float = field(default_factory=time.perf_counter)
    verifier: Verifier = field(default_factory=Verifier)
    """Open findings and the fixes awaiting their re-check (assistant/verify.py)."""

    def add_usage(self, completion: Completion) -> None:
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        if completion.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + completion.cost_usd

    def exhausted(self) -> str | None:
        if self.steps >= self.max_steps - 1:  # the last step is kept for the answer
            return f"{self.steps + 1} model steps, the limit"
        if self.tool_calls >= self.max_tool_calls:
            return f"{self.tool_calls} tool calls, the limit"
        if self.no_progress >= 2:
            return "no progress: the same calls were requested again"
        return None


def result_budget(ctx: TurnContext) -> int:
    """Tokens one tool result may take: the configured budget, but never more than 1/8 of the window."""
    window = context_limit(ctx.model, ctx.settings.context_limit)
    return max(200, min(ctx.settings.tool_result_tokens, window // 8))
