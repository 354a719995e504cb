"""FastAPI dependencies as `Annotated` aliases, the only way routes reach app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from assistant.config import Settings
from assistant.store import Notifier
from assistant.turns import TurnSupervisor
from web.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def _settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


async def _engine(request: Request) -> Engine:
    return await request.app.state.runtime.aengine()


async def _supervisor(request: Request) -> TurnSupervisor:
    return await request.app.state.runtime.supervisor()


def _notifier(request: Request) -> Notifier:
    return request.app.state.runtime.notifier


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[Engine, Depends(_engine)]
SupervisorDep = Annotated[TurnSupervisor, Depends(_supervisor)]
NotifierDep = Annotated[Notifier, Depends(_notifier)]
