"""Driving one turn: persist every event before anyone sees it, honour cancel, drain on shutdown.

The server and the CLI both run turns through `drive_turn`; neither talks to the loop
directly. Order of truth: the loop yields an event -> it is committed to the session's
log -> listeners are told (SSE streams by the group committer's `on_commit`, the CLI via `on_event`).
Every append is fenced to this process's lease on the turn (assistant/replica.py): once the
turn was closed elsewhere its driver stops at once, writing nothing more. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from assistant import logs, metrics, store
from assistant.config import Settings
from assistant.context import Approver, open_context
from assistant.events import (
    ApprovalDecided,
    ApprovalRequired,
    Error,
    Event,
    EventType,
    TurnFinished,
    UserMessage,
)
from assistant.providers import Providers
from assistant.redaction import redactor_for
from assistant.replica import Replica
from assistant.runbook import is_runbook
from assistant.store.group_commit import GroupCommitter, retrieve_exception

if TYPE_CHECKING:
    from assistant.nodes.router import NodeRouter

log = logging.getLogger("firstline.turns")
RECORD_END_RETRY_S = 300.0
"""How long a turn whose database went away keeps trying to record its end."""

OnEvent = Callable[[Event], Awaitable[None] | None]
STOPPED = "the server stopped during this turn"
"""The reason recorded when a turn's task is cancelled without one (see TurnSupervisor.drain)."""


class Draining(Exception):
    """This server is shutting down and takes no new turns (the API answers 503 with Retry-After)."""


class EventWriter:
    """Commits a turn's events in order through the process's group committer (a burst of tokens goes as
    one piece), then tells `on_event`; callers await the events that must be stored before going on.
    Once an append is fenced (the turn is no longer ours) `lost` is set and nothing more is sent."""

    def __init__(self, committer: GroupCommitter, session_id: str, on_event: OnEvent | None = None) -> None:
        self.committer, self.session_id, self.on_event = committer, session_id, on_event
        self.queue: asyncio.Queue[tuple[Event, asyncio.Future[Event]]] = asyncio.Queue()
        self.last: asyncio.Future[Event] | None = None
        self.finished = False
        self.lost = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"event-writer-{session_id}")

    def put(self, event: Event) -> asyncio.Future[Event]:
        """Queue `event`; the future resolves to the stored event (with its seq) once committed."""
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(retrieve_exception)
        self.queue.put_nowait((event, fut))
        self.last = fut
        return fut

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 256:
                batch.append(self.queue.get_nowait())
            try:
                if self.lost.is_set():
                    raise store.Fenced(batch[0][0].turn_id or "")
                stored = await self.committer.append(self.session_id, [ev for ev, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the DB went away, or the turn is not ours: waiters learn it
                if isinstance(exc, store.Fenced):
                    self.lost.set()
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for ev, (_, fut) in zip(stored, batch, strict=True):
                self.finished = self.finished or ev.type is EventType.TURN_FINISHED
                metrics.observe_event(ev)  # what was stored, once (a retried end is not counted twice)
                await self._tell(ev)
                if not fut.done():
                    fut.set_result(ev)

    async def _tell(self, ev: Event) -> None:
        if self.on_event is None:
            return
        try:
            res = self.on_event(ev)
            if asyncio.iscoroutine(res):
                await res
        except Exception:
            log.exception("on_event listener failed for %s", ev.type.value)

    async def close(self) -> None:
        """Wait for everything queued to be committed (or to fail), then stop."""
        if self.last is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self.last)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def drive_turn(
    settings: Settings,
    engine: Engine,
    session_id: str,
    turn_id: str,
    user_text: str,
    approver: Approver,
    *,
    on_event: OnEvent | None = None,
    cancel_event: asyncio.Event | None = None,
    poll_s: float | None = 0.25,
    author: str = "user",
    message_stored: bool = False,
    committer: GroupCommitter | None = None,
    providers: Providers | None = None,
    nodes: NodeRouter | None = None,
) -> str:
    """Run one turn of `session_id` (already begun with `store.begin_turn`); return its final status.

    Every event is committed (through `committer`, the server's shared one, or a private one that holds this
    process's lease while the turn runs) before it is announced. Cancel (DB flag, from any process, polled
    every `poll_s`; or `cancel_event`, which alone counts when `poll_s` is None) stops the loop and records
    `turn_finished(cancelled)`; if this task itself is cancelled (shutdown) the turn is recorded as
    interrupted, with the cancel's message as the reason. A turn closed elsewhere stops without a word more.
    `nodes` reaches node targets.
    """
    logs.bind(session_id=session_id, turn_id=turn_id)  # this turn's task (and threads): its log lines say so
    user_text = redactor_for(settings)(
        user_text
    )  # a pasted token is never stored, shown or sent to the model
    own_committer = committer is None
    replica = Replica(engine, settings.turn_lease_s, recover=False) if own_committer else None
    if replica is not None:
        await replica.start()
    committer = committer or GroupCommitter(engine, owner=store.current_owner().replica)
    writer = EventWriter(committer, session_id, on_event)
    started = time.perf_counter()
    ctx = None
    try:
        session, history = await asyncio.to_thread(_load, engine, session_id)
        # the loop adds this turn's question itself; what came with it (a pasted log) is history
        history = [ev for ev in history if ev.turn_id != turn_id or ev.type is not EventType.USER_MESSAGE]
        if not message_stored:  # the server stores it with the turn, before answering 202
            await writer.put(Event.of(UserMessage(text=user_text, author=author), turn_id))
        try:
            ctx = await asyncio.to_thread(
                open_context,
                settings,
                target=session.target,
                model=session.model,
                session_id=session_id,
                turn_id=turn_id,
                approver=approver,
                providers=providers,
                nodes=nodes,
            )
        except Exception as exc:  # noqa: BLE001 - TargetError, broken kubeconfig: tell the user
            return await _finish(
                writer,
                turn_id,
                "error",
                started,
                Error(message=f"cannot open target {session.target}: {exc}", kind="target"),
            )
        loop_module = await asyncio.to_thread(
            importlib.import_module, "assistant.loop"
        )  # litellm: slow import
        pump = _pump(loop_module.run_turn(ctx, history, user_text), writer)
        return await _race_cancel(pump, writer, engine, turn_id, cancel_event, poll_s, started)
    except asyncio.CancelledError as stop:
        reason = str(stop.args[0]) if stop.args and stop.args[0] else STOPPED
        await _finish_quietly(
            writer, turn_id, "interrupted", started, Error(message=reason, kind="interrupted")
        )
        raise
    except store.Fenced:
        log.warning(
            "turn %s was closed elsewhere (its lease was lost or it was force-closed); stopped", turn_id
        )
        return "interrupted"
    except Exception as exc:
        log.exception("turn %s failed", turn_id)
        error = Error(message=f"internal error: {type(exc).__name__}: {exc}", kind="internal")
        if isinstance(exc, DBAPIError):  # the database went away mid-turn: keep trying to close the turn
            error = Error(
                message="the database became unreachable during this turn; events after that point "
                "were not saved. Send the message again.",
                kind="db_unavailable",
            )
        await _finish_quietly(writer, turn_id, "error", started, error, retry_s=RECORD_END_RETRY_S)
        return "error"
    finally:
        if ctx is not None:
            with contextlib.suppress(Exception):
                await ctx.target.aclose()
        await writer.close()
        if own_committer:
            await committer.aclose()
        if replica is not None:
            await replica.aclose()


def _load(engine: Engine, session_id: str) -> tuple[store.SessionRow, list[Event]]:
    with store.reading(engine) as db:
        return store.get_session(db, session_id=session_id), store.list_events(db, session_id=session_id)


async def _pump(events, writer: EventWriter) -> str | None:
    """Feed the loop's events to the writer; wait for the commit of everything but tokens."""
    status = None
    async with contextlib.aclosing(events):
        async for ev in events:
            if ev.type is EventType.USER_MESSAGE:
                continue  # the driver already stored the user's words
            fut = writer.put(ev)
            if ev.type is not EventType.TOKEN:
                await fut
            if ev.type is EventType.TURN_FINISHED:
                status = ev.data.status
    return status


async def _race_cancel(
    pump,
    writer: EventWriter,
    engine: Engine,
    turn_id: str,
    cancel_event: asyncio.Event | None,
    poll_s: float | None,
    started: float,
) -> str:
    pump_task = asyncio.create_task(pump, name=f"turn-{turn_id}")
    watch_task = asyncio.create_task(_watch_cancel(engine, turn_id, cancel_event, poll_s))
    lost_task = asyncio.create_task(writer.lost.wait())
    try:
        await asyncio.wait({pump_task, watch_task, lost_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump_task, watch_task, lost_task):
            if not task.done():
                task.cancel()
        await asyncio.gather(pump_task, watch_task, lost_task, return_exceptions=True)
    if writer.lost.is_set():
        raise store.Fenced(turn_id)  # stop at once: the tool or model call in flight was cancelled above
    if pump_task.done() and not pump_task.cancelled():
        status = pump_task.result()  # re-raises a bug in the loop (handled by drive_turn)
        if status is not None:
            return status
        return await _finish(
            writer,
            turn_id,
            "error",
            started,
            Error(message="the agent loop ended without finishing the turn", kind="internal"),
        )
    if writer.finished:
        return "completed"
    return await _finish(writer, turn_id, "cancelled", started, None)


async def _watch_cancel(
    engine: Engine, turn_id: str, cancel_event: asyncio.Event | None, poll_s: float | None
) -> None:
    """Return once a cancel is requested (in-process flag, or the DB flag set by any process) or the turn was
    closed elsewhere.
    `poll_s=None`: someone else (the TurnSupervisor) watches the DB flag and sets `cancel_event`."""
    if poll_s is None and cancel_event is not None:
        await cancel_event.wait()
        return
    poll_s = poll_s or 0.25
    while True:
        if cancel_event is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cancel_event.wait(), poll_s)
            if cancel_event.is_set():
                return
        else:
            await asyncio.sleep(poll_s)
        if await asyncio.to_thread(_cancel_flag, engine, turn_id):
            return


def _cancel_flag(engine: Engine, turn_id: str) -> bool:
    """Cancel requested, or the turn was closed elsewhere (its last write would be fenced)."""
    return bool(_cancels_or_lost(engine, [turn_id]))


async def _finish(writer: EventWriter, turn_id: str, status: str, started: float, error: Error | None) -> str:
    if writer.finished:
        return status
    if error is not None:
        writer.put(Event.of(error, turn_id))
    wall = round((time.perf_counter() - started) * 1000, 1)
    await writer.put(Event.of(TurnFinished(status=status, wall_ms=wall), turn_id))
    return status


async def _finish_quietly(
    writer: EventWriter, turn_id: str, status: str, started: float, error: Error, retry_s: float = 0.0
) -> None:
    """Best effort while shutting down; after a failure, retried for `retry_s` so a database that comes back
    frees the session instead of leaving it `running`. Recovery at next start covers the rest."""
    deadline, delay = time.monotonic() + retry_s, 0.25
    while True:
        try:
            await asyncio.shield(_finish(writer, turn_id, status, started, error))
            return
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - best effort
            if (
                writer.lost.is_set() or time.monotonic() + delay > deadline
            ):  # closed elsewhere: nothing to record
                log.warning("could not record the end of turn %s (%s)", turn_id, status)
                return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


# ------------------------------------------------------------ approvals across processes


def db_approver(
    engine: Engine, session_id: str, turn_id: str, *, poll_s: float = 0.2, timeout_s: float = 1800.0
) -> Approver:
    """An approver that records a pending approval and waits (polling the DB) for a person's decision.

    Works when the decision arrives through another process (any server replica, the CLI).
    Undecided after `timeout_s`: the request expires and counts as denied.
    """

    async def approve(request: ApprovalRequired) -> ApprovalDecided:
        await asyncio.to_thread(_ensure_approval, engine, session_id, turn_id, request)
        deadline = time.monotonic() + timeout_s
        while True:
            row = await asyncio.to_thread(_approval, engine, session_id, request.approval_id)
            if row.status in ("approved", "denied"):
                return ApprovalDecided(
                    approval_id=request.approval_id,
                    decision="approve" if row.status == "approved" else "deny",
                    by=row.decided_by or "user",
                    comment=row.comment,
                )
            if row.status == "expired" or time.monotonic() > deadline:
                comment = f"no decision within {_span(timeout_s)}"
                expired = await asyncio.to_thread(_expire, engine, request.approval_id, comment)
                if expired or row.status == "expired":
                    return ApprovalDecided(
                        approval_id=request.approval_id,
                        decision="deny",
                        by="firstline",
                        comment=comment,
                        expired=True,
                    )
            await asyncio.sleep(poll_s)

    return approve


def _span(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"


def _ensure_approval(engine: Engine, session_id: str, turn_id: str, request: ApprovalRequired) -> None:
    with store.writing(engine) as db:
        store.ensure_approval(db, session_id=session_id, turn_id=turn_id, request=request)


def _approval(engine: Engine, session_id: str, approval_id: str) -> store.ApprovalRow:
    with store.reading(engine) as db:
        return store.get_approval(db, session_id=session_id, approval_id=approval_id)


def _expire(engine: Engine, approval_id: str, comment: str) -> bool:
    with store.writing(engine) as db:
        return store.expire_approval(db, approval_id=approval_id, comment=comment)


# ------------------------------------------------------------ running turns in the background


class TurnSupervisor:
    """Starts turns as background tasks of this process and cancels them on request or shutdown.

    A cancel requested through this supervisor sets the turn's in-process flag at once; one watcher
    task reads the DB flags of all local turns in a single query every `poll_s`, so a cancel from
    another process (another replica, the CLI) lands too, at one query per interval, not per turn.
    The same query finds turns closed elsewhere (lease lost, force-closed): they stop as if cancelled,
    and their last write is fenced off. `drain` stops taking turns and lets the running ones finish.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        notifier: store.Notifier | None = None,
        *,
        poll_s: float = 0.25,
        approval_poll_s: float = 0.2,
        providers: Providers | None = None,
        nodes: NodeRouter | None = None,
    ) -> None:
        self.settings, self.engine, self.nodes = settings, engine, nodes
        self.providers = providers
        self.notifier = notifier or store.Notifier()
        self.poll_s, self.approval_poll_s = poll_s, approval_poll_s
        self.tasks: dict[str, asyncio.Task[str]] = {}
        self.cancel_flags: dict[str, asyncio.Event] = {}
        self.queued: dict[str, str] = {}
        """turn id -> session id of turns begun but still waiting for a slot."""
        self._watcher: asyncio.Task | None = None
        self.pending_approvals = 0
        """Turns of this process parked on a person's decision (they hold no running slot meanwhile)."""
        self._slots = asyncio.Semaphore(settings.max_running_turns)
        self._hosted_slots = asyncio.Semaphore(settings.max_running_hosted_turns)
        self.committer = GroupCommitter(
            engine, on_commit=self.notifier.notify, owner=store.current_owner().replica
        )
        """All local turns' events go through one writer: one transaction per batch, not per turn and step."""
        self.draining = False

    def _ensure_watcher(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_cancels(), name="turn-cancel-watcher")

    async def _watch_cancels(self) -> None:
        while self.cancel_flags:
            await asyncio.sleep(self.poll_s)
            flags = dict(self.cancel_flags)
            if not flags:
                break
            try:
                requested = await asyncio.to_thread(_cancels_or_lost, self.engine, list(flags))
            except Exception as exc:  # noqa: BLE001 - the DB may be briefly away; local cancels still work
                log.warning("cancel watcher: %s", exc)
                continue
            for turn_id in requested:
                flags[turn_id].set()

    async def start(
        self, session_id: str, text: str, *, author: str = "user", attachment: str | None = None
    ) -> store.TurnRow:
        """Begin a turn (Conflict if one runs, NotFound if no such session, Draining while shutting down) and
        drive it in the background. `attachment`: a pasted log, stored with the question as a tool output
        (assistant/attachments.py)."""
        if self.draining:
            raise Draining("this server is shutting down and takes no new turns; send the message again")
        text = redactor_for(self.settings)(text)
        loop = asyncio.get_running_loop()

        def announce(
            events: list[Event],
        ) -> None:  # from the DB thread, right after the commit: no extra loop hops
            loop.call_soon_threadsafe(self.notifier.notify, session_id, [e.to_json() for e in events])

        paste = _paster(self.settings, attachment) if attachment else None
        turn, _message, model = await asyncio.to_thread(
            _begin, self.engine, session_id, text, author, announce, paste
        )
        flag = asyncio.Event()
        slots = self._slots if is_runbook(model) else self._hosted_slots
        approver = self._waiting_frees_slot(
            db_approver(
                self.engine,
                session_id,
                turn.id,
                poll_s=self.approval_poll_s,
                timeout_s=self.settings.approval_timeout_s,
            ),
            slots,
        )
        task = asyncio.create_task(
            self._drive(session_id, turn.id, text, approver, flag, author, slots), name=f"drive-{turn.id}"
        )
        self.tasks[turn.id], self.cancel_flags[turn.id], self.queued[turn.id] = task, flag, session_id
        task.add_done_callback(
            lambda _t, tid=turn.id: (self.tasks.pop(tid, None), self.cancel_flags.pop(tid, None))
        )
        self._ensure_watcher()
        return turn

    def _waiting_frees_slot(self, approver: Approver, slots: asyncio.Semaphore) -> Approver:
        """A turn waiting for a person gives its running slot back meanwhile (32 parked approvals must not
        stop every other session for 30 minutes); past `max_pending_approvals` waiting on this server, a
        new request is denied at once rather than parked."""

        async def approve(request: ApprovalRequired) -> ApprovalDecided:
            if self.pending_approvals >= self.settings.max_pending_approvals:
                return ApprovalDecided(
                    approval_id=request.approval_id,
                    decision="deny",
                    by="firstline",
                    comment=f"{self.pending_approvals} approvals are already waiting on this "
                    "server; decide those first, then ask again",
                )
            self.pending_approvals += 1
            slots.release()
            try:
                return await approver(request)
            finally:
                self.pending_approvals -= 1
                await slots.acquire()

        return approve

    async def _drive(
        self,
        session_id: str,
        turn_id: str,
        text: str,
        approver: Approver,
        flag: asyncio.Event,
        author: str,
        slots: asyncio.Semaphore,
    ) -> str:
        with self.notifier.local_turn(session_id):
            async with slots:  # queued here (listed in `self.queued`) while the model's limit of turns run
                self.queued.pop(turn_id, None)
                return await drive_turn(
                    self.settings,
                    self.engine,
                    session_id,
                    turn_id,
                    text,
                    approver,
                    cancel_event=flag,
                    poll_s=None,
                    author=author,
                    message_stored=True,
                    committer=self.committer,  # the committer notifies the streams
                    providers=self.providers,
                    nodes=self.nodes,
                )

    async def _close_queued(self, reason: str = "the server stopped before this turn could start") -> None:
        """Turns stopped before they got a slot never reached `drive_turn`, which records its own end: close
        them here, so their sessions are free at once rather than after crash recovery."""
        for turn_id, session_id in list(self.queued.items()):
            writer = EventWriter(self.committer, session_id)
            await _finish_quietly(
                writer,
                turn_id,
                "interrupted",
                time.perf_counter(),
                Error(message=f"{reason}; send the message again", kind="interrupted"),
            )
            await writer.close()
            self.queued.pop(turn_id, None)

    async def cancel(self, session_id: str, turn_id: str) -> store.TurnRow:
        row = await asyncio.to_thread(_request_cancel, self.engine, session_id, turn_id)
        flag = self.cancel_flags.get(turn_id)
        if flag is not None:
            flag.set()
        return row

    async def drain(self, grace_s: float) -> int:
        """Take no new turns; give the running ones `grace_s` to finish, then interrupt the rest with a reason
        that says so (the next message resumes from the stored history). Returns how many were interrupted."""
        self.draining = True
        tasks = list(self.tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        late = [task for task in tasks if not task.done()]
        reason = (
            f"this server shut down (a restart or rolling update) and the turn did not finish within its "
            f"{grace_s:g} s grace period; everything up to here is kept. Send a message to continue"
        )
        for task in late:
            task.cancel(reason)
        if late:
            await asyncio.wait(late, timeout=10.0)
        await self._close_queued("this server shut down before this turn could start")
        return len(late)

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop local turns; each records `interrupted` on its way out."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        await self._close_queued()
        if self._watcher is not None:
            self._watcher.cancel()
        await self.committer.aclose()


Paster = Callable[[list[Event]], list[Event]]
"""session history -> the events of a pasted attachment (without a turn id yet)."""


def _paster(settings: Settings, text: str) -> Paster:
    from assistant.attachments import paste_events

    return lambda history: paste_events(
        text, redactor=redactor_for(settings), cap_chars=settings.max_attachment_chars, history=history
    )


def _begin(
    engine: Engine,
    session_id: str,
    text: str,
    author: str,
    announce: Callable[[list[Event]], None] | None = None,
    paste: Paster | None = None,
) -> tuple[store.TurnRow, Event, str]:
    """The turn and the user's message (and its pasted attachment) in one transaction: once a message is
    accepted (202) it is stored. `announce` hears of the committed events at once (streams continue from
    them without a DB read). Returns the turn, the committed message event and the session's model."""
    pasted = paste(_load(engine, session_id)[1]) if paste else []  # analysed before the write lock is taken;
    with store.writing(engine) as db:  # no turn can add findings meanwhile: begin_turn refuses a second one
        turn = store.begin_turn(db, session_id=session_id, owner=store.current_owner())
        model = store.get_session(db, session_id=session_id).model  # read first: the append stamps `at`,
        message = Event.of(UserMessage(text=text, author=author), turn.id)
        stored = [
            store.append_event(db, session_id=session_id, event=message)
        ]  # and the commit follows at once
        for ev in pasted:
            stored.append(
                store.append_event(
                    db, session_id=session_id, event=ev.model_copy(update={"turn_id": turn.id})
                )
            )
    if announce is not None:
        announce(stored)
    return turn, stored[0], model


def _cancels_or_lost(engine: Engine, turn_ids: list[str]) -> list[str]:
    """Turns to stop: cancel requested, or no longer running under this replica (closed elsewhere)."""
    with store.reading(engine) as db:
        return store.cancels_requested(db, turn_ids=turn_ids, owner=store.current_owner().replica)


def _request_cancel(engine: Engine, session_id: str, turn_id: str) -> store.TurnRow:
    with store.writing(engine) as db:
        return store.request_cancel(db, session_id=session_id, turn_id=turn_id)
