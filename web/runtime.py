"""Per-app state: settings, the database (opened lazily, so a late database gives 503s, not a dead app),
the in-process notifier and the turn supervisor."""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from sqlalchemy.engine import Engine

from assistant import store
from assistant.config import Settings
from assistant.nodes.hub import NodeHub
from assistant.nodes.relay import Relay
from assistant.nodes.router import NodeRouter
from assistant.providers import Providers
from assistant.turns import TurnSupervisor, recover_interrupted
from web.quiet_gc import QuietGC

log = logging.getLogger("firstline.web")
RECOVER_EVERY_S = 30.0
DB_THREADS = 8
"""Threads for blocking calls from request handlers (asyncio.to_thread). Few on purpose: events are written
by the group committer's own thread, and every extra thread busy in Python takes GIL turns from the event
loop (with 24, bursts of 100 new turns stalled streaming for 100+ ms at a time)."""


def _warm_up() -> None:
    """What a first turn would otherwise wait for: the agent loop and tiktoken's tables. Not litellm: hosted
    models are called from the model gateway's process (`assistant/gateway.py`), which loads it."""
    importlib.import_module("assistant.loop")
    from assistant.tokens import encoding

    encoding()


class Runtime:
    def __init__(self, settings: Settings, *, quiet_gc: bool = False) -> None:
        self.settings = settings
        self.quiet_gc: QuietGC | None = QuietGC(self._busy) if quiet_gc else None
        self.notifier = store.Notifier()
        self._engine: Engine | None = None
        self._supervisor: TurnSupervisor | None = None
        self._lock = threading.Lock()
        self._warm: asyncio.Task | None = None
        self.gateway = None
        self.providers: Providers | None = None
        """Which implementation answers each model string; set at start-up (the gateway, CPU offload)."""
        self._gateway_warm: asyncio.Task | None = None
        self._recovery: asyncio.Task | None = None
        self.draining = False
        """True once this process stops taking new turns (set on SIGTERM): /readyz then answers 503, so load
        balancers send new requests to other replicas while this one finishes its turns."""
        self.node_hub = NodeHub(self.aengine, settings.nodes.heartbeat_s)
        self._node_router: NodeRouter | None = None
        self._node_lock = asyncio.Lock()

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

    @property
    def opened_engine(self) -> Engine | None:
        """The engine if the database was opened already (never opens it: for metrics)."""
        return self._engine

    @property
    def started_supervisor(self) -> TurnSupervisor | None:
        return self._supervisor

    def _busy(self) -> bool:
        return self._supervisor is not None and bool(self._supervisor.tasks)

    async def supervisor(self) -> TurnSupervisor:
        engine = await self.aengine()
        if self._supervisor is None:
            nodes = await self.node_router()
            if self._supervisor is None:
                self._supervisor = TurnSupervisor(self.settings, engine, self.notifier, providers=self.providers,
                                                  nodes=nodes)
        return self._supervisor

    async def node_router(self) -> NodeRouter:
        """Calls to nodes: this process's hub, and on PostgreSQL the relay to the other replicas' nodes."""
        async with self._node_lock:
            if self._node_router is None:
                engine = await self.aengine()
                relay = Relay(engine, self.node_hub) if engine.dialect.name == "postgresql" else None
                if relay is not None:
                    await relay.start()
                self._node_router = NodeRouter(engine, self.node_hub, relay)
        return self._node_router

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
        from assistant.gateway import ModelGateway
        from assistant.runbook import is_runbook

        self.gateway = ModelGateway()  # hosted-model streams are parsed in a child process
        # A turn's CPU work goes to threads: the event loop keeps streaming other sessions meanwhile.
        self.providers = Providers(self.settings, gateway=self.gateway, offload=True)
        if not is_runbook(self.settings.model):  # the default is hosted: start its process now, not on first use
            self._gateway_warm = asyncio.create_task(self.gateway.warm())
            self._gateway_warm.add_done_callback(
                lambda t: t.cancelled() or t.exception() is None or log.warning("model gateway: %s", t.exception()))
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=DB_THREADS,
                                                                           thread_name_prefix="firstline-db"))
        anyio.to_thread.current_default_thread_limiter().total_tokens = DB_THREADS  # plain `def` routes: 40 by default
        # Load the agent loop and tiktoken in a thread so the first turn starts fast and the event loop never
        # blocks on it. What is loaded then is frozen for the garbage collector.
        self._warm = asyncio.create_task(asyncio.to_thread(_warm_up))
        if self.quiet_gc is not None:
            self._warm.add_done_callback(lambda _t: self.quiet_gc.start())
        self._recovery = asyncio.create_task(self._recover_periodically())
        try:
            await self.aengine()
            await self.node_router()  # on PostgreSQL: listen for calls to the nodes this replica will hold
        except store.StoreUnavailable as exc:
            log.error("%s; the API answers 503 until it is reachable", exc)
        except (OSError, TimeoutError) as exc:
            log.error("node relay not started: %s", exc)

    async def shutdown(self) -> None:
        self.draining = True
        if self._recovery is not None:
            self._recovery.cancel()
        if self.quiet_gc is not None:
            self.quiet_gc.stop()
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        await self.node_hub.aclose()  # after the turns: a turn still running may be calling a node
        if self._node_router is not None and self._node_router.relay is not None:
            await self._node_router.relay.aclose()
        if self.gateway is not None:
            await self.gateway.aclose()
        if self._engine is not None:
            self._engine.dispose()
