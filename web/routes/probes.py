"""Probes for orchestrators: `/livez` (is the process alive?) and `/readyz` (should it get traffic?).

Liveness never touches the database: a database outage must not make Kubernetes restart every replica.
Readiness does: the database answers, its schema is the one this code migrates to, and the process is not
draining. Both are open without the auth token (kubelets send none) and say nothing secret.
`/healthz` (web/routes/meta.py) stays as it was, for existing load balancers and `firstline doctor`.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from assistant.store.migrations import MIGRATIONS, current_version

log = logging.getLogger("firstline.web")
router = APIRouter(tags=["meta"])
READY_TIMEOUT_S = 3.0
"""A database that does not answer within this is not ready (below Kubernetes' usual probe timeout)."""


class Live(BaseModel):
    ok: bool = True


class Ready(BaseModel):
    ready: bool
    db: str
    """The dialect when reachable; otherwise `unavailable (<error type>)` (details go to the log, not here)."""
    schema_version: int | None = None
    expected_schema_version: int = len(MIGRATIONS)
    draining: bool = False


@router.get("/livez", response_model=Live)
async def livez() -> Live:
    """200 while the event loop runs. No database, no thread: answering is the proof."""
    return Live()


def _check_db(request: Request) -> tuple[str, int]:
    engine = request.app.state.runtime.engine()  # opens and migrates a database that came up late
    with engine.connect() as conn:
        return engine.dialect.name, current_version(conn)


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
async def readyz(request: Request) -> Ready | JSONResponse:
    """200 when this replica should get traffic; 503 with the reason otherwise."""
    if request.app.state.runtime.draining:
        return _not_ready(Ready(ready=False, db="not checked", draining=True))
    try:
        dialect, version = await asyncio.wait_for(asyncio.to_thread(_check_db, request), READY_TIMEOUT_S)
    except (RuntimeError, sa.exc.SQLAlchemyError, TimeoutError) as exc:  # StoreUnavailable, a newer schema
        log.warning(
            "not ready: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else ""
        )
        return _not_ready(Ready(ready=False, db=f"unavailable ({type(exc).__name__})"))
    body = Ready(ready=version == len(MIGRATIONS), db=dialect, schema_version=version)
    return body if body.ready else _not_ready(body)


def _not_ready(body: Ready) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=503)
