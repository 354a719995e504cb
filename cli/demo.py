"""`firstline demo`: every sandbox scenario investigated by the offline model, no key, no cluster."""

from __future__ import annotations

import re
import time

from rich.console import Console

from assistant.config import DEFAULT_MODEL, Settings
from assistant.context import open_context
from assistant.events import Error, Event, Message, TurnFinished, payloads
from assistant.loop import new_turn_id, run_turn


def root_cause_line(answer: str) -> str:
    """The answer's root-cause sentence (what an engineer reads first)."""
    match = re.search(r"\*\*Root cause\*\*\s*[—:-]*\s*(.+)", answer)
    text = match.group(1) if match else answer.strip().splitlines()[0] if answer.strip() else ""
    return re.sub(r"\*\*|`", "", text).strip()


async def investigate(settings: Settings, target: str, message: str, model: str) -> list[Event]:
    ctx = open_context(settings, target=target, model=model, session_id="demo", turn_id=new_turn_id())
    return [event async for event in run_turn(ctx, [], message)]


async def run_demo(settings: Settings, model: str | None = None, only: list[str] | None = None) -> int:
    from tools.targets.sandbox import list_scenarios

    console = Console(highlight=False)
    model = model or DEFAULT_MODEL
    scenarios = [s for s in list_scenarios(settings.targets) if not only or s.id in only]
    failures = 0
    for scenario in scenarios:
        t0 = time.perf_counter()
        report = getattr(scenario, "report", None) or scenario.summary
        events = await investigate(settings, f"sandbox:{scenario.id}", report, model)
        answer = next((m.text for m in payloads(events, Message)), "")
        errors = [e.message for e in payloads(events, Error)]
        finished = payloads(events, TurnFinished)[0]
        found = (
            root_cause_line(answer) if answer else f"[red]error: {errors[0] if errors else 'no answer'}[/]"
        )
        expected = getattr(scenario, "expect", None) or []
        ok = bool(answer) and all(re.search(p, answer, re.I) for p in expected)
        failures += 0 if ok else 1
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(f"[bold]{scenario.id}[/] [dim]— {report}[/]")
        console.print(
            f"  {mark} {found}  [dim]({finished.tool_calls} tool calls, {time.perf_counter() - t0:.2f} s)[/]"
        )
    console.print(f"{len(scenarios) - failures}/{len(scenarios)} scenarios diagnosed correctly with {model}.")
    return 1 if failures else 0
