"""Persistence: sessions, turns, the append-only event log and the tables derived from it.

engine = open_store(settings.db_url)          # opens + migrates
with writing(engine) as db:
    s = create_session(db, target="sandbox:nginx-port-conflict", model="firstline/runbook")
ev = append(engine, session_id=s.id, event=Event.of(Token(text="hi")))   # seq assigned
"""

from __future__ import annotations

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from assistant.store.closing import close_running_turn, force_close
from assistant.store.db import StoreUnavailable, normalize_url, open_engine, reading, writing
from assistant.store.errors import Conflict, NotFound, StoreError
from assistant.store.lease import Fenced, Orphan
from assistant.store.log import append, append_batch, append_event, append_many, list_events
from assistant.store.migrations import migrate
from assistant.store.models import (
    ApprovalRow,
    EventRow,
    FindingRow,
    MessageRow,
    ReplicaRow,
    SessionRow,
    ToolCallRow,
    TurnRow,
)
from assistant.store.notify import Notifier, Subscription
from assistant.store.owner import Owner, current_owner, owner_is_gone
from assistant.store.repo import (
    begin_turn,
    cancel_requested,
    cancels_requested,
    claim_orphan,
    create_session,
    decide_approval,
    delete_session,
    ensure_approval,
    expire_approval,
    get_approval,
    get_session,
    get_turn,
    list_approvals,
    list_findings,
    list_messages,
    list_sessions,
    list_tool_calls,
    new_id,
    rename_session,
    request_cancel,
    running_turns,
    turn_statuses,
)
from assistant.store.rows import as_utc

__all__ = [
    "ApprovalRow",
    "Conflict",
    "EventRow",
    "Fenced",
    "FindingRow",
    "MessageRow",
    "NotFound",
    "Notifier",
    "Orphan",
    "Owner",
    "ReplicaRow",
    "SessionRow",
    "StoreError",
    "StoreUnavailable",
    "Subscription",
    "ToolCallRow",
    "TurnRow",
    "append",
    "append_batch",
    "append_event",
    "append_many",
    "as_utc",
    "begin_turn",
    "cancel_requested",
    "cancels_requested",
    "claim_orphan",
    "close_running_turn",
    "create_session",
    "current_owner",
    "decide_approval",
    "delete_session",
    "ensure_approval",
    "expire_approval",
    "force_close",
    "get_approval",
    "get_session",
    "get_turn",
    "list_approvals",
    "list_events",
    "list_findings",
    "list_messages",
    "list_sessions",
    "list_tool_calls",
    "migrate",
    "new_id",
    "normalize_url",
    "open_engine",
    "open_store",
    "owner_is_gone",
    "reading",
    "rename_session",
    "request_cancel",
    "running_turns",
    "turn_statuses",
    "writing",
]


def open_store(
    url: str,
    *,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    prepared_statements: bool = True,
) -> Engine:
    """Open the database at `url` and bring its schema up to date; StoreUnavailable if it cannot be reached.
    The keywords tune the PostgreSQL pool (settings.db_pool_size, db_max_overflow, db_prepared_statements)."""
    try:
        engine = open_engine(
            url, pool_size=pool_size, max_overflow=max_overflow, prepared_statements=prepared_statements
        )
    except OSError as exc:  # a SQLite directory that cannot be created: unavailable, not a crash
        shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
        raise StoreUnavailable(f"cannot open database {shown}: {exc}") from exc
    try:
        migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        raise StoreUnavailable(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
        ) from exc
    return engine
