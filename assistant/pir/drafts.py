"""Stored PIR drafts: every version kept, numbered 1, 2, 3... per session.

The table is created by migration `m002_pir_drafts` (assistant/store/migrations.py) and
described by `PirDraftRow` in assistant/store/models.py, with every other table. A regenerate never overwrites: it adds
the next version, so an edited or reviewed draft is never lost.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from assistant import store
from assistant.store.models import PirDraftRow, utcnow

RETRIES = 6


def latest(db: Session, *, session_id: str) -> PirDraftRow | None:
    stmt = (
        select(PirDraftRow)
        .where(PirDraftRow.session_id == session_id)
        .order_by(col(PirDraftRow.version).desc())
        .limit(1)
    )
    return db.exec(stmt).first()


def get_version(db: Session, *, session_id: str, version: int) -> PirDraftRow:
    row = db.exec(
        select(PirDraftRow).where(PirDraftRow.session_id == session_id, PirDraftRow.version == version)
    ).first()
    if row is None:
        raise store.NotFound("pir version", f"{session_id} v{version}")
    return row


def list_versions(db: Session, *, session_id: str) -> list[PirDraftRow]:
    store.get_session(db, session_id=session_id)
    stmt = select(PirDraftRow).where(PirDraftRow.session_id == session_id).order_by(col(PirDraftRow.version))
    return list(db.exec(stmt))


def save(
    engine: Engine, *, session_id: str, model: str, render: Any, first_only: bool = False
) -> PirDraftRow:
    """Store the next version. `render(version, created_at) -> (markdown, data)` is called inside the
    transaction so the number printed in the draft is the number it is stored under; two concurrent
    regenerations get consecutive versions (the unique constraint decides, the loser retries).
    `first_only`: when some version already exists (a concurrent first GET won), return the latest."""
    for attempt in range(RETRIES):
        try:
            with store.writing(engine) as db:
                store.get_session(db, session_id=session_id)
                current = db.execute(
                    sa.select(sa.func.max(PirDraftRow.version)).where(
                        col(PirDraftRow.session_id) == session_id
                    )
                ).scalar()
                if first_only and current:
                    return get_version(db, session_id=session_id, version=int(current))
                version = int(current or 0) + 1
                created = utcnow()
                markdown, data = render(version, created)
                row = PirDraftRow(
                    session_id=session_id,
                    version=version,
                    created_at=created,
                    model=model,
                    markdown=markdown,
                    data=data,
                )
                db.add(row)
                db.flush()
                return row
        except (IntegrityError, OperationalError) as exc:
            busy = isinstance(exc, IntegrityError) or "lock" in str(exc).lower()
            if attempt == RETRIES - 1 or not busy:
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")
