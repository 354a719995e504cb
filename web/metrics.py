"""`GET /metrics`: Prometheus text (or OpenMetrics, as the scraper asks) for this process.

Behind the auth token like every other route (Prometheus: `authorization: {credentials_file: ...}`).
The counters and histograms come from `assistant.metrics`; what is read at scrape time from this
server's state comes from `RuntimeCollector`: turns running and queued here, the DB pool, the
approvals pending in the whole database, whether this process is draining.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from assistant import metrics

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from web.runtime import Runtime

log = logging.getLogger("firstline.web")
router = APIRouter(tags=["meta"])


class RuntimeCollector:
    """Gauges read from one server's runtime at each scrape (no state of their own to get wrong)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        supervisor = self.runtime.started_supervisor
        tasks = len(supervisor.tasks) if supervisor else 0
        queued = len(supervisor.queued) if supervisor else 0
        yield GaugeMetricFamily(
            "firstline_turns_running", "Turns this process is running now.", value=tasks - queued
        )
        yield GaugeMetricFamily(
            "firstline_turns_queued", "Turns begun here, waiting for a free slot.", value=queued
        )
        yield GaugeMetricFamily(
            "firstline_draining",
            "1 while this process stops taking turns.",
            value=1 if self.runtime.draining else 0,
        )
        engine = self.runtime.opened_engine
        in_use = getattr(engine.pool, "checkedout", None) if engine is not None else None
        if callable(in_use):
            yield GaugeMetricFamily(
                "firstline_db_pool_in_use",
                "Database connections checked out of this process's pool.",
                value=in_use(),
            )
        pending = _approvals_pending(engine) if engine is not None else None
        if pending is not None:
            yield GaugeMetricFamily(
                "firstline_approvals_pending",
                "Write actions waiting for a person's decision (whole database).",
                value=pending,
            )


def _approvals_pending(engine: Any) -> int | None:
    """None when the database does not answer: the series goes missing rather than reading 0."""
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(sa.text("SELECT count(*) FROM approvals WHERE status = 'pending'")).scalar() or 0
            )
    except sa.exc.SQLAlchemyError as exc:
        log.warning("metrics: approvals pending not read: %s", type(exc).__name__)
        return None


class _ProcessWide:
    """The process's own registry (assistant.metrics) seen through the app's, so one scrape is one document."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


def registry_for(runtime: Runtime) -> CollectorRegistry:
    """This app's registry: the process-wide metrics plus its runtime's gauges. Turns on collection."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessWide(metrics.enable()))
    registry.register(RuntimeCollector(runtime))
    return registry


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    """Rendered in a thread: the approvals query must not hold up the event loop."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    body = await asyncio.to_thread(encoder, request.app.state.metrics_registry)
    return Response(body, media_type=content_type)


async def counted(stream: AsyncIterator[dict]) -> AsyncIterator[dict]:
    """An SSE stream counted in `firstline_sse_clients` while it is open."""
    metrics.sse_client(+1)
    try:
        async for item in stream:
            yield item
    finally:
        metrics.sse_client(-1)
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator, typed as its protocol
