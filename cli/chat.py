"""`firstline chat`: a turn in the terminal, stored in the same database as the server's."""

from __future__ import annotations

import asyncio
import sys
from typing import Literal

from rich.console import Console

from assistant import store
from assistant.config import Settings
from assistant.events import ApprovalDecided, ApprovalRequired
from assistant.redaction import redactor_for
from assistant.turns import drive_turn
from cli.console import EventPrinter
from tools.targets import TargetError, open_target


def terminal_approver(console: Console, approve_all: bool):
    """Ask on the terminal; with no terminal (CI, pipes) the answer is no."""

    async def decide(request: ApprovalRequired) -> ApprovalDecided:
        if approve_all:
            return ApprovalDecided(
                approval_id=request.approval_id, decision="approve", by="cli --approve-all"
            )
        if not sys.stdin.isatty():
            return ApprovalDecided(
                approval_id=request.approval_id,
                decision="deny",
                by="cli",
                comment="no terminal to ask for approval",
            )
        console.print(f"\n[bold yellow]Approve?[/] {request.command}  [dim]on {request.target}[/]")
        if request.reason:
            console.print(f"[dim]reason: {request.reason[:500]}[/]")
        answer = await asyncio.to_thread(input, "approve / deny [deny]: ")
        decision: Literal["approve", "deny"] = (
            "approve" if answer.strip().lower() in ("a", "approve", "y", "yes") else "deny"
        )
        return ApprovalDecided(approval_id=request.approval_id, decision=decision, by="cli")

    return decide


async def run_chat(
    settings: Settings,
    message: str,
    *,
    target: str | None,
    model: str | None,
    session_id: str | None,
    as_json: bool,
    approve_all: bool,
    plain: bool = False,
) -> int:
    """One turn in the terminal. The answer is rendered Markdown on a terminal, raw Markdown on a pipe or
    with `plain`, JSON events with `as_json`."""
    console = Console(highlight=False, stderr=as_json, color_system=None if plain else "auto")
    message = redactor_for(settings)(message.strip())  # also the session title: no pasted token is stored
    if not message or len(message) > settings.max_message_chars:
        console.print(f"[red]firstline: the message must be 1..{settings.max_message_chars} characters[/]")
        return 2
    engine = store.open_store(settings.db_url)
    try:
        with store.writing(engine) as db:
            if session_id:
                row = store.get_session(db, session_id=session_id)
            else:
                spec = target or settings.default_target
                if not spec.startswith(("node:", "nodes:")):
                    open_target(spec, settings.targets)  # fail fast with the target's own message
                row = store.create_session(
                    db, target=spec, model=model or settings.model
                )  # named by its message
            turn = store.begin_turn(db, session_id=row.id, owner=store.current_owner())
            sid, tid = row.id, turn.id
    except (TargetError, store.NotFound, store.Conflict) as exc:
        console.print(f"[red]firstline: {exc}[/]")
        return 2
    nodes = await _node_router(engine) if row.target.startswith(("node:", "nodes:")) else None
    printer = EventPrinter(console, as_json=as_json, markdown=not (as_json or plain) and console.is_terminal)
    if not as_json:
        console.print(f"[dim]session {sid} · target {row.target} · model {row.model}[/]")
    status = await drive_turn(
        settings,
        engine,
        sid,
        tid,
        message,
        terminal_approver(console, approve_all),
        on_event=printer,
        nodes=nodes,
    )
    if nodes is not None and nodes.relay is not None:
        await nodes.relay.aclose()
    if not as_json:
        console.print(f'[dim]continue: firstline chat --session {sid} "..." · review: firstline pir {sid}[/]')
    engine.dispose()
    return 0 if status in ("completed", "budget") else 1


async def _node_router(engine):
    """On PostgreSQL the terminal reaches nodes through the server replica holding them (assistant/nodes/relay.py);
    on SQLite only the server process itself can, so the turn says so."""
    from assistant.nodes.relay import Relay
    from assistant.nodes.router import NodeRouter

    if engine.dialect.name != "postgresql":
        return None
    relay = Relay(engine, None)
    await relay.start()
    return NodeRouter(engine, None, relay)
