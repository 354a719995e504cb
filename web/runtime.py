"""Per-app state: settings, the database (opened lazily, so a late database gives 503s, not a dead app),
the in-process notifier and the turn supervisor."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from assistant import store
from assistant.config import Settings
from assistant.turns import TurnSupervisor, recover_interrupted

log = logging.getLogger("firstline.web")
RECOVER_EVERY_S = 30.0


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.notifier = store.Notifier()
        self._engine: Engine | None = None
        self._supervisor: TurnSupervisor | None = None
        self._lock = threading.Lock()
        self._warm: asyncio.Task | None = None
        self._recovery: asyncio.Task | None = None

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

    async def _recover_periodically(self) -> None:
        """Another process on this host may die mid-turn while we keep running: close its turns too."""
        while True:
            await asyncio.sleep(RECOVER_EVERY_S)
            if self._engine is None:
                continue
            try:
                recovered = await asyncio.to_thread(recover_interrupted, self._engine)
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; try next time
                log.warning("periodic recovery skipped: %s", exc)
                continue
            for turn_id in recovered:
                log.warning("turn %s: its process died; marked interrupted", turn_id)

    async def startup(self) -> None:
        # DB calls run in the default executor (asyncio.to_thread); size it for many streams + turns.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=24,
                                                                           thread_name_prefix="firstline-db"))
        # The agent loop imports litellm (seconds): warm it in a thread so the first turn starts fast
        # and the event loop never blocks on it.
        self._warm = asyncio.create_task(asyncio.to_thread(importlib.import_module, "assistant.loop"))
        self._recovery = asyncio.create_task(self._recover_periodically())
        try:
            await self.aengine()
        except store.StoreUnavailable as exc:
            log.error("%s; the API answers 503 until it is reachable", exc)

    async def shutdown(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        if self._engine is not None:
            self._engine.dispose()
