"""Per-app state: settings, the database (opened lazily, so a late database gives 503s, not a dead app),
the in-process notifier and the turn supervisor."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading

from sqlalchemy.engine import Engine

from assistant import store
from assistant.config import Settings
from assistant.turns import TurnSupervisor, recover_interrupted

log = logging.getLogger("firstline.web")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.notifier = store.Notifier()
        self._engine: Engine | None = None
        self._supervisor: TurnSupervisor | None = None
        self._lock = threading.Lock()
        self._warm: asyncio.Task | None = None

    def engine(self) -> Engine:
        """The migrated engine; on first success also closes turns orphaned by a crash. Blocking."""
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                engine = store.open_store(self.settings.db_url)
                recovered = recover_interrupted(engine)
                if recovered:
                    log.warning("marked %d turn(s) interrupted after a crash", len(recovered))
                self._engine = engine
        return self._engine

    async def aengine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        return await asyncio.to_thread(self.engine)

    async def supervisor(self) -> TurnSupervisor:
        engine = await self.aengine()
        if self._supervisor is None:
            self._supervisor = TurnSupervisor(self.settings, engine, self.notifier)
        return self._supervisor

    async def startup(self) -> None:
        # The agent loop imports litellm (seconds): warm it in a thread so the first turn starts fast
        # and the event loop never blocks on it.
        self._warm = asyncio.create_task(asyncio.to_thread(importlib.import_module, "assistant.loop"))
        try:
            await self.aengine()
        except store.StoreUnavailable as exc:
            log.error("%s; the API answers 503 until it is reachable", exc)

    async def shutdown(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        if self._engine is not None:
            self._engine.dispose()
