"""What the Prometheus metrics cost the server: the per-event hooks on the hot paths, and one scrape.

The hooks run for every stored event (the turn driver), every model step and every event handed to an
SSE stream, on the event loop; the scrape renders in a thread. Measured in-process, hooks enabled.

    python bench/metrics_overhead.py [--quick] [--json PATH]
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchlib import Figure, arg_parser, median, print_machine, summary, table, write_figures

from assistant import metrics
from assistant.events import Event, ToolResultEvent, TurnFinished


def per_call_us(fn, n: int) -> float:
    """Median over 5 rounds of the mean time of one call, in microseconds."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return median(rounds)


def main() -> None:
    opts = arg_parser(__doc__.splitlines()[0]).parse_args()
    print_machine("metrics overhead")
    n = 2_000 if opts.quick else 20_000
    metrics.enable()
    tool = Event.of(ToolResultEvent(call_id="c1", tool="port_owner", ok=True, duration_ms=12.5), "t1")
    finished = Event.of(TurnFinished(status="completed", wall_ms=900.0), "t1")
    sse_event = {"seq": 1, "at": datetime.now(UTC).isoformat()}
    opened = time.time() - 1
    rows = [
        ("observe_event(tool_result)", per_call_us(lambda: metrics.observe_event(tool), n)),
        ("observe_event(turn_finished)", per_call_us(lambda: metrics.observe_event(finished), n)),
        ("model_call", per_call_us(lambda: metrics.model_call("firstline/runbook", 0.02, "ok", 900, 40), n)),
        ("event_delivered (SSE)", per_call_us(lambda: metrics.event_delivered(sse_event, opened), n)),
    ]
    table(["hook", "µs per call"], [(name, f"{us:.2f}") for name, us in rows])

    from fastapi.testclient import TestClient

    from assistant.config import Settings
    from web.app import create_app

    with tempfile.TemporaryDirectory() as home, TestClient(create_app(Settings(home=Path(home)))) as client:
        client.get("/metrics")
        scrape_ms = median(
            [_timed_ms(lambda: client.get("/metrics")) for _ in range(5 if opts.quick else 30)]
        )
    figures = [
        Figure("metrics hook per SSE event", rows[3][1], "µs"),
        Figure("metrics hook per stored tool result", rows[0][1], "µs"),
        Figure("GET /metrics (in-process, SQLite, median)", scrape_ms, "ms"),
    ]
    for fig in figures:
        summary(fig)
    write_figures(opts.json, "metrics_overhead", figures)


def _timed_ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
