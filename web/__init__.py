"""Firstline's web server: JSON API, lossless SSE event streams and the browser UI.

from web import serve, create_app
serve(settings, "127.0.0.1", 8080)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from assistant.config import Settings


def create_app(settings: Settings, *, quiet_gc: bool = False) -> FastAPI:
    from web.app import create_app as _create

    return _create(settings, quiet_gc=quiet_gc)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "info") -> None:
    """Run the server with uvicorn until interrupted (one process; turns run as asyncio tasks in it). The
    process is the server's alone, so it takes over full garbage collections (web/quiet_gc.py). SIGTERM
    drains first (web/shutdown.py)."""
    import sys

    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from assistant.identity import MIN_TOKEN_CHARS
    from assistant.logs import log_config
    from web.app import create_app as _create
    from web.shutdown import DrainingServer
    from web.slow_clients import with_header_deadline

    if settings.auth_token and len(settings.auth_token) < MIN_TOKEN_CHARS:
        raise SystemExit(f"FIRSTLINE_AUTH_TOKEN must be at least {MIN_TOKEN_CHARS} characters")

    targets = settings.targets.model_copy(update={"deny_ports": [*settings.targets.deny_ports, port]})
    settings = settings.model_copy(
        update={
            "allowed_hosts": [*settings.allowed_hosts, host],  # the bind address
            "targets": targets,
        }
    )  # http_check never reaches our own API
    app = _create(settings, quiet_gc=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
        http=with_header_deadline(settings.header_timeout_s),  # slow clients: web/slow_clients.py
        timeout_keep_alive=settings.keepalive_timeout_s,
        limit_concurrency=settings.max_http_connections,
        log_config=log_config(settings.log_format, log_level) or LOGGING_CONFIG,
    )
    server = DrainingServer(config, app.state.runtime)
    server.run()
    if not server.started:
        sys.exit(3)  # uvicorn.run's start-up failure code: the port was taken, the app failed to start
