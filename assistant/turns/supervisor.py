"""Running turns in the background: slots, starts, cancels, and draining on shutdown.

Nothing here knows about HTTP; the web app and the CLI's server hold one TurnSupervisor each.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from assistant import store
from assistant.config import Settings
from assistant.context import Approver
from assistant.events import ApprovalDecided, ApprovalRequired, Error, Event, UserMessage
from assistant.providers import Providers
from assistant.redaction import redactor_for
from assistant.runbook import is_runbook
from assistant.store.group_commit import GroupCommitter
from assistant.turns.approvals import db_approver
from assistant.turns.cancels import cancels_or_lost, request_cancel
from assistant.turns.driver import drive_turn, load
from assistant.turns.wake import TurnBell
from assistant.turns.writer import EventWriter, finish_quietly

if TYPE_CHECKING:
    from assistant.nodes.router import NodeRouter

log = logging.getLogger("firstline.turns")


class Draining(Exception):
    """This server is shutting down and takes no new turns (the API answers 503 with Retry-After)."""


class TurnSupervisor:
    """Starts turns as background tasks of this process and cancels them on request or shutdown.

    A cancel requested through this supervisor sets the turn's in-process flag at once; one watcher
    task reads the DB flags of all local turns in a single query whenever `bell` rings for one of them
    (another replica's cancel, force-close or recovery, by PostgreSQL NOTIFY) and every `poll_s` anyway
    (2 s while push is live): one query per wake-up, not per turn. The same query finds turns closed
    elsewhere (lease lost, force-closed): they stop as if cancelled, and their last write is fenced off.
    Approvals wait on the same bell (turns/approvals.py). `drain` stops taking turns and lets the running
    ones finish.
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
        bell: TurnBell | None = None,
    ) -> None:
        self.settings, self.engine, self.nodes = settings, engine, nodes
        self.bell = bell or TurnBell()
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.bell.any.wait(), self.bell.poll_s(self.poll_s))
            self.bell.any.clear()  # before the read: a ring from now on means another one
            flags = dict(self.cancel_flags)
            if not flags:
                break
            try:
                requested = await asyncio.to_thread(cancels_or_lost, self.engine, list(flags))
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
        self.bell.event(turn.id)  # rings for this turn now reach the watcher and its approver
        slots = self._slots if is_runbook(model) else self._hosted_slots
        approver = self._waiting_frees_slot(
            db_approver(
                self.engine,
                session_id,
                turn.id,
                poll_s=self.approval_poll_s,
                timeout_s=self.settings.approval_timeout_s,
                bell=self.bell,
            ),
            slots,
        )
        task = asyncio.create_task(
            self._drive(session_id, turn.id, text, approver, flag, author, slots), name=f"drive-{turn.id}"
        )
        self.tasks[turn.id], self.cancel_flags[turn.id], self.queued[turn.id] = task, flag, session_id
        task.add_done_callback(functools.partial(self._forget, turn.id))
        self._ensure_watcher()
        return turn

    def _forget(self, turn_id: str, _task: asyncio.Task[str]) -> None:
        self.tasks.pop(turn_id, None)
        self.cancel_flags.pop(turn_id, None)
        self.bell.forget(turn_id)

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
            await finish_quietly(
                writer,
                turn_id,
                "interrupted",
                time.perf_counter(),
                Error(message=f"{reason}; send the message again", kind="interrupted"),
            )
            await writer.close()
            self.queued.pop(turn_id, None)

    async def cancel(self, session_id: str, turn_id: str) -> store.TurnRow:
        row = await asyncio.to_thread(request_cancel, self.engine, session_id, turn_id)
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
    pasted = paste(load(engine, session_id)[1]) if paste else []  # analysed before the write lock is taken;
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
