"""Turn latency: a whole investigation with the offline model on every sandbox scenario, our own
overhead per model step, and (against a live `firstline serve`) POST latency and time to first SSE event.

    python bench/turn_latency.py [--quick] [--repeats N] [--json PATH]

Overhead = wall - time inside the model call (`stream_completion` and its stream) - tool time (the union of the
tool_result intervals, since read calls run concurrently); divided by model steps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from benchlib import (
    Figure,
    ModelClock,
    Server,
    arg_parser,
    iso_ts,
    median,
    pct,
    print_machine,
    sse_events,
    summary,
    table,
    write_figures,
)


@dataclass
class TurnRun:
    wall_s: float
    model_s: float
    tools_s: float
    steps: int
    tool_calls: int
    status: str

    @property
    def overhead_ms_per_step(self) -> float:
        return max(0.0, self.wall_s - self.model_s - self.tools_s) * 1000 / max(1, self.steps)


def tools_busy_s(results: list) -> float:
    """Seconds during which at least one tool ran (union of [started_at, +duration] intervals)."""
    spans = sorted((iso_ts(r.started_at) if r.started_at else 0.0, r.duration_ms / 1000) for r in results)
    busy, end = 0.0, float("-inf")
    for start, dur in spans:
        stop = start + dur
        if stop > end:
            busy += stop - max(start, end)
            end = stop
    return busy


async def one_turn(settings, scenario, clock: ModelClock) -> TurnRun:
    from assistant.context import open_context
    from assistant.events import EventType
    from assistant.loop import run_turn

    ctx = open_context(
        settings,
        target=f"sandbox:{scenario.id}",
        model="firstline/runbook",
        session_id=f"bench-{uuid.uuid4().hex[:8]}",
        turn_id=uuid.uuid4().hex,
        providers=clock.providers(settings),
    )
    clock.reset()
    results, finished = [], None
    t0 = time.perf_counter()
    async for event in run_turn(ctx, [], scenario.report):
        if event.type is EventType.TOOL_RESULT:
            results.append(event.data)
        elif event.type is EventType.TURN_FINISHED:
            finished = event.data
    wall = time.perf_counter() - t0
    return TurnRun(
        wall,
        clock.seconds,
        tools_busy_s(results),
        finished.steps if finished else 0,
        finished.tool_calls if finished else 0,
        finished.status if finished else "none",
    )


async def in_process(repeats: int) -> tuple[list[list], list[TurnRun]]:
    import tempfile

    from assistant.config import Settings
    from tools.targets.sandbox import list_scenarios

    settings = Settings(home=tempfile.mkdtemp(prefix="firstline-bench-"))
    clock = ModelClock()
    scenarios = list_scenarios(settings.targets)
    await one_turn(settings, scenarios[0], clock)  # warm-up: first-use imports and caches are cold-start cost
    rows, every = [], []
    for sc in scenarios:
        runs = [await one_turn(settings, sc, clock) for _ in range(repeats)]
        every += runs
        walls = [r.wall_s * 1000 for r in runs]
        rows.append(
            [
                sc.id,
                runs[0].steps,
                runs[0].tool_calls,
                median(walls),
                pct(walls, 95),
                median([r.model_s * 1000 for r in runs]),
                median([r.tools_s * 1000 for r in runs]),
                median([r.overhead_ms_per_step for r in runs]),
                runs[0].status,
            ]
        )
    return rows, every


async def live_turn(client, base: str, scenario) -> dict[str, float]:
    """Open the stream first, then POST; times are relative to the moment the POST returned."""
    r = await client.post(f"{base}/api/sessions", json={"target": f"sandbox:{scenario.id}"})
    r.raise_for_status()
    sid = r.json()["id"]
    got: dict[str, float] = {}
    opened = asyncio.Event()

    async def read() -> None:
        async with client.stream("GET", f"{base}/api/sessions/{sid}/events") as resp:
            resp.raise_for_status()
            opened.set()
            async for ev in sse_events(resp):
                got.setdefault("first", ev.t)
                got.setdefault(ev.event, ev.t)
                if ev.event == "turn_finished":
                    return

    reader = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 30)
    t_send = time.time()
    r = await client.post(f"{base}/api/sessions/{sid}/messages", json={"content": scenario.report})
    t_back = time.time()
    r.raise_for_status()
    await asyncio.wait_for(reader, 120)
    return {
        "post_ms": (t_back - t_send) * 1000,
        "first_ms": (got["first"] - t_back) * 1000,
        "token_ms": (got.get("token", got["turn_finished"]) - t_back) * 1000,
        "turn_ms": (got["turn_finished"] - t_send) * 1000,
    }


async def live(repeats: int) -> tuple[dict[str, list[float]], float]:
    import httpx

    from tools.targets.sandbox import list_scenarios

    scenarios = list_scenarios()
    out: dict[str, list[float]] = {"post_ms": [], "first_ms": [], "token_ms": [], "turn_ms": []}
    with Server() as server:
        async with httpx.AsyncClient(timeout=60) as client:
            await live_turn(client, server.url, scenarios[0])  # warm-up (first turn imports the loop)
            for _ in range(repeats):
                for sc in scenarios:
                    for key, value in (await live_turn(client, server.url, sc)).items():
                        out[key].append(value)
        return out, server.ready_s


def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    repeats = 2 if args.quick else 5
    print_machine("turn latency (offline model firstline/runbook, sandbox scenarios)")
    rows, every = asyncio.run(in_process(repeats))
    print(f"\nin-process run_turn, {repeats} repeats per scenario (ms):")
    table(
        ["scenario", "steps", "calls", "wall p50", "wall p95", "model", "tools", "ours/step", "status"], rows
    )
    walls = [r.wall_s * 1000 for r in every]
    overhead = [r.overhead_ms_per_step for r in every]
    live_figs, ready = asyncio.run(live(max(1, repeats // 2)))
    print(f"\nlive server (ready in {ready:.1f}s), one session per run, stream opened before the POST (ms):")
    table(
        ["measure", "p50", "p95", "max", "n"],
        [[k, median(v), pct(v, 95), max(v), len(v)] for k, v in live_figs.items()],
    )
    figures = [
        Figure("investigation wall time p50 (in-process)", median(walls), "ms"),
        Figure("investigation wall time p95 (in-process)", pct(walls, 95), "ms"),
        Figure("Firstline overhead per model step p50", median(overhead), "ms"),
        Figure("message POST latency p50 (live server)", median(live_figs["post_ms"]), "ms"),
        Figure(
            "first SSE event after POST returns p50",
            median(live_figs["first_ms"]),
            "ms",
            "< 50 ms",
            median(live_figs["first_ms"]) < 50,
        ),
        Figure("first model token after POST returns p50", median(live_figs["token_ms"]), "ms"),
        Figure("whole turn over HTTP+SSE p50", median(live_figs["turn_ms"]), "ms"),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "turn_latency", figures)


if __name__ == "__main__":
    main()
