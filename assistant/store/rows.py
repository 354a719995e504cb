"""Stored event rows read back as Events; shared by the log (appending, listing) and the PostgreSQL relay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from assistant.events import Event


def row_to_event(row: Any) -> Event:
    """An `events` row (ORM object or Core row with the same column names) as an Event."""
    at = row.created_at
    return Event.from_json(
        {
            "type": row.type,
            "seq": row.seq,
            "session_id": row.session_id,
            "turn_id": row.turn_id,
            "at": as_utc(at).isoformat() if at else None,
            "data": row.data,
        }
    )


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
