"""A person's decision on a write action the assistant asked to run (the turn waits for it)."""

from __future__ import annotations

from fastapi import APIRouter

from assistant import store
from web.deps import EngineDep, IdentityDep, RuntimeDep
from web.errors import ERROR_RESPONSES
from web.schemas import ApprovalDecisionIn, ApprovalOut

router = APIRouter(prefix="/api/sessions", tags=["approvals"], responses=ERROR_RESPONSES)


@router.get("/{session_id}/approvals", response_model=list[ApprovalOut])
def list_approvals(session_id: str, engine: EngineDep) -> list[ApprovalOut]:
    with store.reading(engine) as db:
        return [ApprovalOut.of(r) for r in store.list_approvals(db, session_id=session_id)]


@router.post(
    "/{session_id}/approvals/{approval_id}",
    response_model=ApprovalOut,
    responses={409: {"description": "Already decided, or expired with its turn"}},
)
def decide(
    session_id: str,
    approval_id: str,
    body: ApprovalDecisionIn,
    engine: EngineDep,
    identity: IdentityDep,
    runtime: RuntimeDep,
) -> ApprovalOut:
    """Approve or deny (the approver role); the waiting turn picks it up at once: woken in-process, or on
    another replica by PostgreSQL NOTIFY. The decision is recorded under the authenticated name; a `by` in the
    body is ignored."""
    with store.writing(engine) as db:
        row = store.decide_approval(
            db,
            session_id=session_id,
            approval_id=approval_id,
            decision=body.decision,
            by=identity.name,
            comment=body.comment,
        )
    runtime.bell.ring(row.turn_id)  # committed: a turn of this process reads it now
    return ApprovalOut.of(row)
