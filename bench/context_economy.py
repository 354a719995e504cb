"""Context economy: tokens (cl100k) of the system prompt plus every tool schema, mean prompt tokens per
solved eval case (from `firstline eval --json`), and the biggest tool outputs the model saw after budgeting.

    python bench/context_economy.py [--quick] [--json PATH]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from benchlib import (
    ROOT,
    Figure,
    ModelClock,
    arg_parser,
    print_machine,
    run_timed,
    summary,
    table,
    write_figures,
)

SCHEMA_TARGET = 2500
CASES = ROOT / "evals" / "cases"


def schema_rows(settings) -> list[list]:
    from assistant.context import TurnContext
    from assistant.loop import system_prompt, tool_schemas
    from assistant.tokens import count_tokens
    from tools.targets import open_target

    rows = []
    for target_name in ("sandbox:nginx-port-conflict", "sandbox:oom-killed", "local"):
        ctx = TurnContext(
            settings=settings,
            target=open_target(target_name, settings.targets),
            model="firstline/runbook",
            session_id="bench",
            turn_id="bench",
        )
        sys_tokens = count_tokens(system_prompt(ctx))
        schema_tokens = count_tokens(json.dumps(tool_schemas(ctx)))
        rows.append([target_name, len(ctx.tools), sys_tokens, schema_tokens, sys_tokens + schema_tokens])
    return rows


def solved_prompt_tokens() -> tuple[float, int, int]:
    """Mean prompt tokens of the passed runs in `firstline eval evals/cases --json`: (mean, solved, runs)."""
    out = Path(tempfile.mkdtemp(prefix="firstline-bench-")) / "eval.json"
    _, _, code = run_timed([sys.executable, "-m", "cli", "eval", str(CASES), "--json", str(out)])
    if code not in (0, 1):
        raise RuntimeError(f"firstline eval exited with {code}")
    runs = [run for r in json.loads(out.read_text())["results"] for run in r["runs"]]
    solved = [run["prompt_tokens"] for run in runs if run["passed"]]
    return (sum(solved) / len(solved) if solved else float("nan")), len(solved), len(runs)


def tool_messages(prompts: list[list[dict]], label: str) -> dict[tuple[str, str], tuple[str, int]]:
    """(label, call id) -> (tool, tokens) of every tool message in the prompts the model was sent."""
    from assistant.tokens import count_tokens

    names: dict[str, str] = {}
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    for prompt in prompts:
        for msg in prompt:
            for call in msg.get("tool_calls") or []:
                names[call["id"]] = call["function"]["name"]
            if msg.get("role") == "tool" and (label, msg["tool_call_id"]) not in seen:
                seen[(label, msg["tool_call_id"])] = (
                    names.get(msg["tool_call_id"], "?"),
                    count_tokens(str(msg.get("content") or "")),
                )
    return seen


async def biggest_outputs(settings, quick: bool) -> dict[tuple[str, str], tuple[str, int]]:
    """Run every sandbox scenario and every eval case once, keeping what the model was sent."""
    from assistant.context import open_context
    from assistant.loop import run_turn
    from evals.format import load_cases
    from evals.suite import run_case
    from tools.targets.sandbox import list_scenarios

    clock = ModelClock()
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for sc in list_scenarios(settings.targets):
        clock.reset()
        ctx = open_context(
            settings,
            target=f"sandbox:{sc.id}",
            model="firstline/runbook",
            session_id="bench",
            turn_id="bench",
            providers=clock.providers(settings),
        )
        async for _ in run_turn(ctx, [], sc.report):
            pass
        found |= tool_messages(clock.prompts, f"sandbox:{sc.id}")
    cases = load_cases([str(CASES)]).cases
    for case in cases[:8] if quick else cases:
        clock.reset()
        await run_case(case, "firstline/runbook", settings, providers=clock.providers(settings))
        found |= tool_messages(clock.prompts, f"eval:{case.id}")
    return found


def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    from assistant.config import Settings
    from assistant.tokens import count_tokens, fit_tokens

    settings = Settings(home=tempfile.mkdtemp(prefix="firstline-bench-"))
    print_machine("context economy (cl100k_base tokens)")
    rows = schema_rows(settings)
    table(["target", "tools", "system", "schemas", "total"], rows)
    worst = max(r[4] for r in rows)

    found = asyncio.run(biggest_outputs(settings, args.quick))
    top = sorted(found.items(), key=lambda kv: -kv[1][1])[:8]
    print(
        f"\nbiggest tool results the model was sent ({len(found)} results; output budget "
        f"{settings.tool_result_tokens} tokens, plus the command header and findings):"
    )
    table(["where", "tool", "tokens"], [[label, tool, tokens] for (label, _), (tool, tokens) in top])
    big = "\n".join(
        f"2026-11-23T03:{i % 60:02d}:00Z app[812]: request id={i} status=200" for i in range(100_000)
    )
    cut, _ = fit_tokens(big, settings.tool_result_tokens)
    print(f"a {len(big) / 1e6:.1f} MB tool output reaches the model as {count_tokens(cut)} tokens")

    mean, solved, runs = solved_prompt_tokens()
    print(
        f"\n`firstline eval evals/cases --json`: {solved}/{runs} solved, mean prompt tokens per solved case "
        f"{mean:.0f} (all model steps of the case)"
    )
    largest = top[0][1][1] if top else 0
    figures = [
        Figure(
            "system prompt + all tool schemas", worst, "tokens", f"<= {SCHEMA_TARGET}", worst <= SCHEMA_TARGET
        ),
        Figure(
            "mean prompt tokens per solved eval case (all model steps, tool schemas included)", mean, "tokens"
        ),
        Figure("largest tool result sent to the model", largest, "tokens"),
        Figure(
            "a 5.9 MB tool output after budgeting",
            count_tokens(cut),
            "tokens",
            f"<= {settings.tool_result_tokens}",
            count_tokens(cut) <= settings.tool_result_tokens,
        ),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "context_economy", figures)


if __name__ == "__main__":
    main()
