"""FastAPI dependencies as `Annotated` aliases, the only way routes reach app state.

All are `async def`, even those that only read an attribute: FastAPI runs a plain `def` dependency in a
worker thread, one hop per dependency per request. Under a burst of 100 posts those hops, and anyio
starting threads for them, held the event loop up to 100 ms at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from assistant.config import Settings
from assistant.identity import Identity, local_identity
from assistant.store import Notifier
from assistant.turns import TurnSupervisor
from web.runtime import Runtime


async def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def _settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


async def _engine(request: Request) -> Engine:
    return await request.app.state.runtime.aengine()


async def _supervisor(request: Request) -> TurnSupervisor:
    return await request.app.state.runtime.supervisor()


async def _identity(request: Request) -> Identity:
    """Who is asking, as web/auth.py established it (never what the body says)."""
    return request.scope.get("state", {}).get("identity") or local_identity()


async def _notifier(request: Request) -> Notifier:
    return request.app.state.runtime.notifier


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[Engine, Depends(_engine)]
SupervisorDep = Annotated[TurnSupervisor, Depends(_supervisor)]
NotifierDep = Annotated[Notifier, Depends(_notifier)]
IdentityDep = Annotated[Identity, Depends(_identity)]
