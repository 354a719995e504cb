"""Sessions: create, list, get, rename, delete; post a message (starts a turn); cancel; the trail."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from assistant import store
from assistant.config import Settings
from tools.targets import TargetError, list_targets, open_target
from web.deps import EngineDep, SettingsDep, SupervisorDep
from web.errors import ERROR_RESPONSES, InvalidField, PayloadTooLarge
from web.schemas import (
    FindingOut,
    MessageIn,
    SessionCreate,
    SessionOut,
    SessionPatch,
    ToolCallOut,
    TurnAccepted,
    TurnOut,
)

router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=ERROR_RESPONSES)


def _running_turn(db, session_id: str) -> str | None:
    stmt = (
        select(store.TurnRow.id)
        .where(store.TurnRow.session_id == session_id, store.TurnRow.status == "running")
        .order_by(col(store.TurnRow.started_at))
    )
    return db.exec(stmt).first()


def _out(engine: Engine, session_id: str) -> SessionOut:
    with store.reading(engine) as db:
        row = store.get_session(db, session_id=session_id)
        return SessionOut.of(row, _running_turn(db, session_id) if row.status == "running" else None)


def check_target(settings: Settings, name: str, engine: Engine | None = None) -> None:
    """422 naming `target` unless it is listed or can be opened (e.g. kubernetes' default context)."""
    if any(t["name"] == name for t in list_targets(settings.targets)):
        return
    if name.startswith(("node:", "nodes:")) and engine is not None:
        from assistant.nodes.target import check_node_target

        problem = check_node_target(engine, name)
        if problem:
            raise InvalidField("target", problem)
        return
    try:
        target = open_target(name, settings.targets)
    except TargetError as exc:
        raise InvalidField("target", str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a broken kubeconfig is still a bad target
        raise InvalidField("target", f"cannot open target {name!r}: {exc}") from None
    close = getattr(target, "aclose", None)
    if close is not None:
        asyncio.run(close())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SessionOut)
def create_session(body: SessionCreate, settings: SettingsDep, engine: EngineDep) -> SessionOut:
    """Open a session on a target (default: settings.default_target) with a model (default: settings.model)."""
    target = body.target or settings.default_target
    check_target(settings, target, engine)
    with store.writing(engine) as db:
        row = store.create_session(
            db, target=target, model=body.model or settings.model, title=body.title or ""
        )
    return SessionOut.of(row)


@router.get("", response_model=list[SessionOut])
def list_sessions(
    engine: EngineDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**31 - 1)
) -> list[SessionOut]:
    """Most recently active first."""
    with store.reading(engine) as db:
        return [
            SessionOut.of(r, _running_turn(db, r.id) if r.status == "running" else None)
            for r in store.list_sessions(db, limit=limit, offset=offset)
        ]


@router.get("/{session_id}", response_model=SessionOut)
def get_session(session_id: str, engine: EngineDep) -> SessionOut:
    return _out(engine, session_id)


@router.patch("/{session_id}", response_model=SessionOut)
def rename_session(session_id: str, body: SessionPatch, engine: EngineDep) -> SessionOut:
    with store.writing(engine) as db:
        store.rename_session(db, session_id=session_id, title=body.title)
    return _out(engine, session_id)


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A turn is running; cancel it first"}},
)
def delete_session(session_id: str, engine: EngineDep) -> Response:
    with store.writing(engine) as db:
        store.delete_session(db, session_id=session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{session_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TurnAccepted,
    responses={
        409: {"description": "A turn is already running"},
        413: {"description": "Message over max_message_chars"},
    },
)
async def post_message(
    session_id: str, body: MessageIn, settings: SettingsDep, supervisor: SupervisorDep
) -> TurnAccepted:
    """Start a turn in the background; follow it on the session's event stream."""
    if len(body.content) > settings.max_message_chars:
        raise PayloadTooLarge(
            f"message is {len(body.content)} characters; the limit is {settings.max_message_chars}"
        )
    turn = await supervisor.start(session_id, body.content, attachment=body.attachment or None)
    return TurnAccepted(session_id=session_id, turn_id=turn.id)


@router.post(
    "/{session_id}/turns/{turn_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TurnOut,
    responses={409: {"description": "The turn is not running"}},
)
async def cancel_turn(session_id: str, turn_id: str, supervisor: SupervisorDep) -> TurnOut:
    """Ask the turn to stop; it ends with turn_finished(status=cancelled) within a fraction of a second."""
    row = await supervisor.cancel(session_id, turn_id)
    return _turn_out(row)


@router.get("/{session_id}/turns", response_model=list[TurnOut])
def list_turns(session_id: str, engine: EngineDep) -> list[TurnOut]:
    with store.reading(engine) as db:
        store.get_session(db, session_id=session_id)
        return [_turn_out(t) for t in store.turn_statuses(db, session_id=session_id)]


def _turn_out(t: store.TurnRow) -> TurnOut:
    return TurnOut(
        id=t.id,
        session_id=t.session_id,
        status=t.status,
        cancel_requested=t.cancel_requested,
        started_at=store.as_utc(t.started_at).isoformat() if t.started_at else None,
        finished_at=store.as_utc(t.finished_at).isoformat() if t.finished_at else None,
    )


@router.get("/{session_id}/tool_calls", response_model=list[ToolCallOut])
def tool_calls(session_id: str, engine: EngineDep) -> list[ToolCallOut]:
    """The command trail: every call, its command line, exit code, duration and output."""
    with store.reading(engine) as db:
        return [ToolCallOut.of(r) for r in store.list_tool_calls(db, session_id=session_id)]


@router.get("/{session_id}/findings", response_model=list[FindingOut])
def findings(session_id: str, engine: EngineDep) -> list[FindingOut]:
    with store.reading(engine) as db:
        return [FindingOut.of(r) for r in store.list_findings(db, session_id=session_id)]
