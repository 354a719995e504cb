"""The FastAPI application: routers, error handlers, body limit, static files, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from assistant import __version__
from assistant.config import Settings
from web import errors, metrics, pir_routes, security
from web.limits import BodyLimit
from web.request_ids import RequestIds
from web.routes import approvals, events, meta, nodes, probes, sessions, turns_admin, ui
from web.runtime import Runtime

STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings, *, quiet_gc: bool = False) -> FastAPI:
    """A Firstline server for `settings`. The database is opened (and migrated) on startup. `quiet_gc`: the
    process is this server's alone, so it may take over full garbage collections (web/quiet_gc.py)."""
    runtime = Runtime(settings, quiet_gc=quiet_gc)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.startup()
        yield
        await runtime.shutdown()

    app = FastAPI(
        title="Firstline",
        version=__version__,
        lifespan=lifespan,
        description="LLM-assisted troubleshooting for on-call engineers: sessions, turns, "
        "a lossless SSE event stream, the command trail and findings.",
    )
    app.state.runtime = runtime
    app.state.metrics_registry = metrics.registry_for(runtime)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for module in (meta, probes, metrics, sessions, events, approvals, nodes, turns_admin, ui):
        app.include_router(module.router)
    app.include_router(pir_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    security.install(app, settings)  # headers wrap everything; auth runs before any route or body read
    app.add_middleware(RequestIds)  # outermost: even a refused request's log lines carry its id
    return app
