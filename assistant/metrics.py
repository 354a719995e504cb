"""Prometheus metrics of this process: turns, tool calls, model calls, SSE streams.

Off until `enable()` (the server calls it at start-up): the CLI and `firstline eval` never import
prometheus_client and every hook below is a `None` check. The metrics are process-wide, as Prometheus
scrapes a process: each replica counts the turns, calls and streams it runs itself. What the server reads
from its own state at scrape time (turns running and queued, DB pool, approvals) is in `web/metrics.py`.
Label values are bounded: a tool or model name the catalog or the first `MAX_MODELS` do not know becomes
`other`, so a client or a model inventing names cannot grow the series without end.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assistant.events import Event, ToolResultEvent, TurnFinished

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MAX_MODELS = 32
TURN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _Metrics:
    """Every metric this module owns, in one registry of its own (not prometheus_client's global one)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            gc_collector,
            platform_collector,
            process_collector,
        )

        from tools.catalog import ALL_TOOLS

        r = self.registry = CollectorRegistry()
        for collector in (
            process_collector.ProcessCollector,
            platform_collector.PlatformCollector,
            gc_collector.GCCollector,
        ):
            collector(registry=r)
        self.tools = frozenset(t.name for t in ALL_TOOLS)
        self.models: set[str] = set()
        self.lock = threading.Lock()
        self.turns = Counter(
            "firstline_turns", "Turns this process finished, by final status.", ["status"], registry=r
        )
        self.turn_seconds = Histogram(
            "firstline_turn_duration_seconds",
            "Wall time of a finished turn.",
            ["status"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.tool_calls = Counter(
            "firstline_tool_calls",
            "Tool results, by tool and outcome (the result's status, or cached).",
            ["tool", "outcome"],
            registry=r,
        )
        self.tool_seconds = Histogram(
            "firstline_tool_duration_seconds",
            "Run time of a tool call (not cached, not refused).",
            ["tool"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter(
            "firstline_model_calls",
            "Model calls (one per agent step), by model and outcome (ok, or the error kind).",
            ["model", "outcome"],
            registry=r,
        )
        self.model_seconds = Histogram(
            "firstline_model_call_duration_seconds",
            "A model call from request to its last token.",
            ["model"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.model_tokens = Counter(
            "firstline_model_tokens",
            "Tokens by model and kind (prompt, completion).",
            ["model", "kind"],
            registry=r,
        )
        self.sse_clients = Gauge("firstline_sse_clients", "Open SSE event streams.", registry=r)
        self.lag = Histogram(
            "firstline_event_delivery_lag_seconds",
            "From an event's commit (its `at`) to its "
            "hand-off to an open SSE stream; live events only, not a reconnect's replay.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.nodes: Gauge | None = None

    def model_label(self, model: str) -> str:
        with self.lock:
            if model in self.models or len(self.models) < MAX_MODELS:
                self.models.add(model)
                return model
        return "other"

    def tool_label(self, tool: str) -> str:
        return tool if tool in self.tools else "other"


_M: _Metrics | None = None
_ENABLE_LOCK = threading.Lock()


def enable() -> CollectorRegistry:
    """Start collecting (idempotent); the registry to expose."""
    global _M
    with _ENABLE_LOCK:
        if _M is None:
            _M = _Metrics()
    return _M.registry


def observe_event(event: Event) -> None:
    """Count what a turn's event tells (called by the turn driver for every event it writes)."""
    m = _M
    if m is None:
        return
    data = event.data
    if isinstance(data, ToolResultEvent):
        tool = m.tool_label(data.tool)
        m.tool_calls.labels(tool, "cached" if data.cached else data.status).inc()
        if not data.cached and data.status != "refused":  # a refused call never ran: no duration to count
            m.tool_seconds.labels(tool).observe(data.duration_ms / 1000)
    elif isinstance(data, TurnFinished):
        m.turns.labels(data.status).inc()
        m.turn_seconds.labels(data.status).observe(data.wall_ms / 1000)


def model_call(
    model: str, seconds: float, outcome: str, prompt_tokens: int = 0, completion_tokens: int = 0
) -> None:
    """One model call ended (outcome `ok` or the ModelError's kind)."""
    m = _M
    if m is None:
        return
    label = m.model_label(model)
    m.model_calls.labels(label, outcome).inc()
    m.model_seconds.labels(label).observe(seconds)
    if prompt_tokens:
        m.model_tokens.labels(label, "prompt").inc(prompt_tokens)
    if completion_tokens:
        m.model_tokens.labels(label, "completion").inc(completion_tokens)


def sse_client(delta: int) -> None:
    if _M is not None:
        _M.sse_clients.inc(delta)


def event_delivered(event: dict[str, Any], stream_opened: float) -> None:
    """An event reached an SSE stream: its lag, if it was committed after the stream opened (older ones are
    a reconnect's catch-up, whose age says nothing about delivery)."""
    m = _M
    if m is None or not event.get("at"):
        return
    try:
        committed = datetime.fromisoformat(event["at"]).timestamp()
    except (TypeError, ValueError):
        return
    if committed >= stream_opened:
        m.lag.observe(max(0.0, time.time() - committed))


def nodes_reported() -> bool:
    return _M is not None and _M.nodes is not None


def set_nodes_connected(count: int) -> None:
    """For the nodes feature (issue 19): the gauge `firstline_nodes_connected` exists from its first call on."""
    m = _M
    if m is None:
        return
    with m.lock:
        if m.nodes is None:
            from prometheus_client import Gauge

            m.nodes = Gauge(
                "firstline_nodes_connected", "Remote nodes connected to this process.", registry=m.registry
            )
    m.nodes.set(count)
