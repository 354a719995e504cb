"""Driving one turn: persist every event before anyone sees it, honour cancel, record the end once.

The server and the CLI both run turns through `drive_turn`; neither talks to the loop
directly. Order of truth: the loop yields an event -> it is committed to the session's
log -> listeners are told (SSE streams by the group committer's `on_commit`, the CLI via `on_event`).
Every append is fenced to this process's lease on the turn (turns/replica.py): once the
turn was closed elsewhere its driver stops at once, writing nothing more. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from assistant import logs, store
from assistant.config import Settings
from assistant.context import Approver, open_context
from assistant.events import Error, Event, EventType, UserMessage
from assistant.providers import Providers
from assistant.redaction import redactor_for
from assistant.store.group_commit import GroupCommitter
from assistant.turns.cancels import watch_cancel
from assistant.turns.replica import Replica
from assistant.turns.writer import EventWriter, OnEvent, finish, finish_quietly

if TYPE_CHECKING:
    from assistant.nodes.router import NodeRouter

log = logging.getLogger("firstline.turns")
RECORD_END_RETRY_S = 300.0
"""How long a turn whose database went away keeps trying to record its end."""
STOPPED = "the server stopped during this turn"
"""The reason recorded when a turn's task is cancelled without one (see TurnSupervisor.drain)."""


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
        session, history = await asyncio.to_thread(load, engine, session_id)
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
            return await finish(
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
        await finish_quietly(
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
        await finish_quietly(writer, turn_id, "error", started, error, retry_s=RECORD_END_RETRY_S)
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


def load(engine: Engine, session_id: str) -> tuple[store.SessionRow, list[Event]]:
    """The session and its stored events. Blocking."""
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
    watch_task = asyncio.create_task(watch_cancel(engine, turn_id, cancel_event, poll_s))
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
        return await finish(
            writer,
            turn_id,
            "error",
            started,
            Error(message="the agent loop ended without finishing the turn", kind="internal"),
        )
    if writer.finished:
        return "completed"
    return await finish(writer, turn_id, "cancelled", started, None)
