"""Stored PIR drafts: every version kept, numbered 1, 2, 3... per session.

The table is created by migration `m002_pir_drafts` (assistant/store/migrations.py);
this row class only describes it for queries. A regenerate never overwrites: it adds
the next version, so an edited or reviewed draft is never lost.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, select

from assistant import store
from assistant.store.models import utcnow

RETRIES = 6


class PirDraftRow(SQLModel, table=True):
    __tablename__ = "pir_drafts"
    __table_args__ = (sa.UniqueConstraint("session_id", "version", name="uq_pir_drafts_session_version"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="sessions.id", max_length=64)
    version: int
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    model: str = Field(max_length=200)
    """The model that drafted the narrative sections ('rules' when none did)."""
    markdown: str
    """Exactly what `firstline pir` prints and the .md download serves (already redacted)."""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    """The facts, narrative and edits the Markdown was rendered from (`firstline pir --json`)."""


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
