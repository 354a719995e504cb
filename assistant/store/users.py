"""Users and their hashed tokens (`firstline users`, the server's authentication)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from assistant.identity import ROLES, new_token, token_hash
from assistant.store.errors import Conflict, NotFound
from assistant.store.models import UserRow, utcnow
from assistant.store.repo import new_id


def add_user(db: Session, *, name: str, role: str) -> tuple[UserRow, str]:
    """A new user and their token (returned once: only its hash is kept)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 100 or not name.isprintable() or name.startswith("local:"):
        raise ValueError("a user name is 1-100 printable characters and does not start with 'local:'")
    if db.exec(select(UserRow).where(col(UserRow.name) == name)).first() is not None:
        raise Conflict(f"user {name!r} already exists")
    token = new_token()
    row = UserRow(id=new_id("u"), name=name, role=role, token_hash=token_hash(token))
    db.add(row)
    db.flush()
    return row, token


def list_users(db: Session) -> list[UserRow]:
    return list(db.exec(select(UserRow).order_by(col(UserRow.created_at))))


def disable_user(db: Session, *, name: str) -> None:
    """The user's token stops working (the row stays: approvals and audit entries name them)."""
    done = db.execute(
        sa.update(UserRow)
        .where((col(UserRow.name) == name) & col(UserRow.disabled_at).is_(None))
        .values(disabled_at=utcnow())
    ).rowcount
    if not done:
        raise NotFound(f"no active user {name!r}")


def user_by_token(db: Session, token: str) -> UserRow | None:
    row = db.exec(select(UserRow).where(col(UserRow.token_hash) == token_hash(token))).first()
    return row if row is not None and row.disabled_at is None else None


def active_users(db: Session) -> int:
    return int(
        db.execute(
            sa.select(sa.func.count()).select_from(UserRow).where(col(UserRow.disabled_at).is_(None))
        ).scalar()
        or 0
    )
