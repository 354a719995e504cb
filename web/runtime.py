"""Per-app state: settings, the database (opened lazily, so a late database gives 503s, not a dead app),
the in-process notifier, the turn supervisor, this process's lease (assistant/turns/replica.py), the
LISTEN connection on PostgreSQL, and the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import anyio.to_thread
from sqlalchemy.engine import Engine

from assistant import store
from assistant.config import Settings
from assistant.nodes.hub import NodeHub
from assistant.nodes.relay import Relay
from assistant.nodes.router import NodeRouter
from assistant.providers import Providers
from assistant.store.pg_notify import EventRelay, PgListener
from assistant.turns import Replica, TurnBell, TurnSupervisor
from web.quiet_gc import QuietGC

log = logging.getLogger("firstline.web")
REOPEN_EVERY_S = 2.0
STREAMS_CLOSE_S = 3.0
"""After the drain, how long open streams get to send their last events and end before uvicorn closes them."""
DB_THREADS = 8
"""Threads for blocking calls from request handlers (asyncio.to_thread). Few on purpose: events are written
by the group committer's own thread, and every extra thread busy in Python takes GIL turns from the event
loop (with 24, bursts of 100 new turns stalled streaming for 100+ ms at a time)."""


def _warm_up() -> None:
    """What a first turn would otherwise wait for: the agent loop and tiktoken's tables. Not litellm: hosted
    models are called from the model gateway's process (`assistant/gateway.py`), which loads it."""
    importlib.import_module("assistant.loop")
    from assistant.tokens import encoding
    from tools.offcore import start_worker

    encoding()
    start_worker()


class Runtime:
    def __init__(self, settings: Settings, *, quiet_gc: bool = False) -> None:
        self.settings = settings
        self.quiet_gc: QuietGC | None = QuietGC(self._busy) if quiet_gc else None
        self.notifier = store.Notifier()
        self.bell = TurnBell()
        """Wakes this process's turns when a decision about one was committed (here, or by another replica)."""
        self._engine: Engine | None = None
        self._supervisor: TurnSupervisor | None = None
        self._lock = threading.Lock()
        self._warm: asyncio.Task | None = None
        self.gateway = None
        self.providers: Providers | None = None
        """Which implementation answers each model string; set at start-up (the gateway, CPU offload)."""
        self._gateway_warm: asyncio.Task | None = None
        self._opening: asyncio.Task | None = None
        self.replica: Replica | None = None
        self.listener: PgListener | None = None
        self.event_relay: EventRelay | None = None
        self.draining = False
        """True from SIGTERM on (web/shutdown.py): no new turns (503), /readyz answers 503 so load balancers send
        new requests to other replicas, and streams end once their session's turn is done here."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task | None = None
        self.node_hub = NodeHub(self.aengine, settings.nodes.heartbeat_s)
        self._node_router: NodeRouter | None = None
        self._node_lock = asyncio.Lock()

    def engine(self) -> Engine:
        """The migrated engine. Blocking."""
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is None:
                self._engine = store.open_store(
                    self.settings.db_url,
                    pool_size=self.settings.db_pool_size,
                    max_overflow=self.settings.db_max_overflow,
                    prepared_statements=self.settings.db_prepared_statements,
                )
        return self._engine

    async def aengine(self) -> Engine:
        """The engine; the first time, also start this process's lease (which closes turns whose owner is gone
        or whose lease expired) and, on PostgreSQL, the LISTEN connection."""
        engine: Engine = self._engine if self._engine is not None else await asyncio.to_thread(self.engine)
        if self.replica is None:
            self.replica = Replica(engine, self.settings.turn_lease_s)
            await self.replica.start()
            if engine.dialect.name == "postgresql":
                self.event_relay = EventRelay(engine, self.notifier, self._listen_url(engine))
                self.listener = PgListener(
                    self._listen_url(engine),
                    self.event_relay.heard,
                    self._listening,
                    on_turn=self.bell.ring,
                )
                self.listener.start()
        return engine

    def _listening(self, pushed: bool) -> None:
        """LISTEN is up (or lost): streams and turns read the database once, and turns poll slowly only
        while pushed."""
        self.notifier.set_pushed(pushed)
        self.bell.set_pushed(pushed)

    def _listen_url(self, engine: Engine) -> str:
        """A libpq URL for LISTEN: database_listen_url (say, past a transaction-mode PgBouncer) or the engine's."""
        from sqlalchemy.engine import make_url

        url = (
            make_url(store.normalize_url(self.settings.database_listen_url))
            if self.settings.database_listen_url
            else engine.url
        )
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

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
                self._supervisor = TurnSupervisor(
                    self.settings,
                    engine,
                    self.notifier,
                    providers=self.providers,
                    nodes=nodes,
                    bell=self.bell,
                )
                self._supervisor.draining = self.draining
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

    async def _open_when_reachable(self) -> None:
        """A database down at start-up: keep trying, so the lease and LISTEN start without waiting for a request."""
        while self.replica is None:
            await asyncio.sleep(REOPEN_EVERY_S)
            with contextlib.suppress(Exception):
                await self.aengine()

    def request_drain(self, then: Callable[[], None]) -> None:
        """From the signal handler (web/shutdown.py): drain on the event loop, then call `then` (uvicorn's own
        shutdown). Without a running app there is nothing to drain."""
        if self._loop is None or self._drain is not None:
            then()
            return
        self._loop.call_soon_threadsafe(self._start_drain, then)

    def _start_drain(self, then: Callable[[], None]) -> None:
        self._drain = asyncio.create_task(self._drain_then(then), name="drain")

    async def _drain_then(self, then: Callable[[], None]) -> None:
        """Stop taking turns, let running ones finish within the grace period (or interrupt them with a reason),
        end the streams (each after its session's turn), then let uvicorn shut down."""
        try:
            self.draining = True
            self.notifier.drain()
            if self._supervisor is not None:
                running = len(self._supervisor.tasks)
                log.warning(
                    "draining: no new turns; %d running get %g s to finish",
                    running,
                    self.settings.shutdown_grace_s,
                )
                late = await self._supervisor.drain(self.settings.shutdown_grace_s)
                if late:
                    log.warning("draining: interrupted %d turn(s) still running after the grace period", late)
            deadline = self._loop.time() + STREAMS_CLOSE_S if self._loop else 0.0
            while self.notifier.total() and self._loop is not None and self._loop.time() < deadline:
                await asyncio.sleep(0.05)
        finally:
            then()

    async def startup(self) -> None:
        from assistant.gateway import ModelGateway
        from assistant.runbook import is_runbook

        self.gateway = ModelGateway()  # hosted-model streams are parsed in a child process
        # A turn's CPU work goes to threads: the event loop keeps streaming other sessions meanwhile.
        self.providers = Providers(self.settings, gateway=self.gateway, offload=True)
        if not is_runbook(
            self.settings.model
        ):  # the default is hosted: start its process now, not on first use
            self._gateway_warm = asyncio.create_task(self.gateway.warm())
            self._gateway_warm.add_done_callback(
                lambda t: (
                    t.cancelled() or t.exception() is None or log.warning("model gateway: %s", t.exception())
                )
            )
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="firstline-db")
        )
        anyio.to_thread.current_default_thread_limiter().total_tokens = (
            DB_THREADS  # plain `def` routes: 40 by default
        )
        # Load the agent loop and tiktoken in a thread so the first turn starts fast and the event loop never
        # blocks on it. What is loaded then is frozen for the garbage collector.
        self._warm = asyncio.create_task(asyncio.to_thread(_warm_up))
        if self.quiet_gc is not None:
            self._warm.add_done_callback(lambda _t: self.quiet_gc.start())
        self._loop = asyncio.get_running_loop()
        try:
            await self.aengine()
            await self.node_router()  # on PostgreSQL: listen for calls to the nodes this replica will hold
        except store.StoreUnavailable as exc:
            log.error("%s; the API answers 503 until it is reachable", exc)
            self._opening = asyncio.create_task(self._open_when_reachable())
        except (OSError, TimeoutError) as exc:
            log.error("node relay not started: %s", exc)

    async def shutdown(self) -> None:
        self.draining = True
        if self._opening is not None:
            self._opening.cancel()
        if self.quiet_gc is not None:
            self.quiet_gc.stop()
        if self._supervisor is not None:
            await self._supervisor.shutdown()
        await self.node_hub.aclose()  # after the turns: a turn still running may be calling a node
        if self._node_router is not None and self._node_router.relay is not None:
            await self._node_router.relay.aclose()
        if self.listener is not None:
            await self.listener.aclose()
        if self.event_relay is not None:
            await self.event_relay.aclose()
        if self.replica is not None:
            await self.replica.aclose()
        if self.gateway is not None:
            await self.gateway.aclose()
        if self._engine is not None:
            self._engine.dispose()
