"""Operators' control over turns: force-close one stuck `running` (its replica gone for good, say). Audited."""

from __future__ import annotations

from fastapi import APIRouter

from assistant import store
from web.deps import EngineDep, RuntimeDep
from web.errors import ERROR_RESPONSES
from web.routes.sessions import _turn_out
from web.schemas import TurnCloseIn, TurnOut

router = APIRouter(prefix="/api/sessions", tags=["admin"], responses=ERROR_RESPONSES)


@router.post(
    "/{session_id}/turns/{turn_id}/close",
    response_model=TurnOut,
    responses={409: {"description": "The turn is not running"}},
)
def close_turn(
    session_id: str, turn_id: str, body: TurnCloseIn, engine: EngineDep, runtime: RuntimeDep
) -> TurnOut:
    """End a running turn now, whichever replica owns it: it is marked interrupted with the reason (in the
    session's log and the audit chain) and its replica, if alive, stops writing it at once. Unlike cancel
    this needs no live owner. The session takes a new message right away."""
    with store.writing(engine) as db:
        store.get_turn(db, session_id=session_id, turn_id=turn_id)  # 404 for another session's turn
        row = store.force_close(db, turn_id=turn_id, by=body.by or "admin", reason=body.reason)
    runtime.bell.ring(turn_id)  # committed: if the turn runs here, it stops now
    return _turn_out(row)
