"""The tables of nodes and routed calls (created by migration m005_nodes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from assistant.store.models import _json, _opt_ts, _ts


class NodeRow(SQLModel, table=True):
    """One enrolled node. The token itself is never stored: only its id and a SHA-256 of its secret."""

    __tablename__ = "nodes"

    name: str = Field(primary_key=True, max_length=64)
    labels: dict[str, str] = _json(dict)
    token_id: str = Field(max_length=32)
    token_hash: str = Field(max_length=64)
    created_at: datetime = _ts(nullable=False)
    revoked_at: datetime | None = _opt_ts()
    facts: dict[str, Any] = _json(dict)
    """OS, kernel, systemd, hostname, as the node last reported them."""
    policy: dict[str, Any] = _json(dict)
    """What the node said it allows (tools, read_only); the node enforces it, the server offers only that."""
    version: str = Field(default="", max_length=32)
    connected: bool = False
    replica: str = Field(default="", max_length=128)
    """The server process holding its connection (host:pid:boot), when connected."""
    last_seen: datetime | None = _opt_ts()


class NodeCallRow(SQLModel, table=True):
    """A tool call for a node held by another replica; the relay's mailbox (see relay.py)."""

    __tablename__ = "node_calls"

    id: str = Field(primary_key=True, max_length=64)
    node: str = Field(max_length=64)
    tool: str = Field(max_length=64)
    args: dict[str, Any] = _json(dict)
    approval: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    timeout_s: float = 15.0
    status: str = Field(default="pending", max_length=16)
    """pending -> running -> done, or expired (the caller gave up)."""
    result: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    claimed_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = _ts(nullable=False)
    finished_at: datetime | None = _opt_ts()
