"""Context economy: tokens (cl100k) of the system prompt plus every tool schema, and of budgeted outputs.

    python bench/context_economy.py
"""

from __future__ import annotations

import json
import tempfile

from assistant.config import Settings
from assistant.context import TurnContext
from assistant.loop import system_prompt, tool_schemas
from assistant.tokens import count_tokens, fit_tokens
from tools.targets import open_target


def main() -> None:
    settings = Settings(home=tempfile.mkdtemp())
    rows = []
    for target_name in ("sandbox:nginx-port-conflict", "sandbox:oom-killed", "local"):
        ctx = TurnContext(settings=settings, target=open_target(target_name, settings.targets),
                          model="firstline/runbook", session_id="bench", turn_id="bench")
        sys_tokens = count_tokens(system_prompt(ctx))
        schema_tokens = count_tokens(json.dumps(tool_schemas(ctx)))
        rows.append((target_name, len(ctx.tools), sys_tokens, schema_tokens, sys_tokens + schema_tokens))
    print(f"{'target':32} {'tools':>5} {'system':>7} {'schemas':>8} {'total':>6}")
    for r in rows:
        print(f"{r[0]:32} {r[1]:>5} {r[2]:>7} {r[3]:>8} {r[4]:>6}")
    worst = max(r[4] for r in rows)
    print(f"system prompt + all tool schemas: {worst} tokens (target <= 2500)")
    big = "\n".join(f"2026-11-23T03:{i % 60:02d}:00Z app[812]: request id={i} status=200" for i in range(100_000))
    cut, _ = fit_tokens(big, settings.tool_result_tokens)
    print(f"a {len(big) / 1e6:.1f} MB tool output reaches the model as {count_tokens(cut)} tokens "
          f"(budget {settings.tool_result_tokens})")


if __name__ == "__main__":
    main()
