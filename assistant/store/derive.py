"""The derived tables (messages, tool_calls, findings, approvals, turn state), updated from a batch of new
events inside the transaction that appends them.

The frequent kinds are written with one statement per kind and batch (a multi-row INSERT, or an
INSERT ... ON CONFLICT DO UPDATE over many rows): on PostgreSQL every statement is a round trip,
and under load every round trip also waits for the GIL, so statements per batch, not per event,
is what keeps commits short. The rare kinds (approvals, the end of a turn) go row by row. Kinds
are applied in an order that respects causality (a call before its result, a request before its
decision, everything before the turn ends).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from assistant.events import EventType
from assistant.store.models import (
    APPROVALS,
    FINDINGS,
    MESSAGES,
    SESSIONS,
    TOOL_CALLS,
    TURNS,
)

Row = dict[str, Any]
"""An appended event as written to `events`: session_id, seq, type, turn_id, data, created_at."""

_CALL_DEFAULTS = {"args": {}, "command": "", "target": "", "risk": "read", "truncated": False}


def derive(db: Session, rows: list[Row], now: datetime) -> None:
    by_type: dict[str, list[Row]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)
    for kind, apply in _ORDER:
        if kind.value in by_type:
            apply(db, by_type[kind.value], now)


def _messages(role: str) -> Callable[[Session, list[Row], datetime], None]:
    def apply(db: Session, rows: list[Row], now: datetime) -> None:
        db.execute(
            sa.insert(MESSAGES),
            [
                {
                    "session_id": r["session_id"],
                    "turn_id": r["turn_id"],
                    "role": role,
                    "text": r["data"]["text"],
                    "created_at": now,
                }
                for r in rows
            ],
        )
        if role == "user":  # an untitled session is named after its first question
            for r in rows:
                db.execute(
                    sa.update(SESSIONS)
                    .where((SESSIONS.c.id == r["session_id"]) & (SESSIONS.c.title == ""))
                    .values(title=_title_from(r["data"]["text"]))
                )

    return apply


def _title_from(text: str, limit: int = 80) -> str:
    """The first message as a title: one line, cut at a word boundary (never mid-word)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    head = line[: limit - 1]
    if " " in head and line[limit - 1] != " ":
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:-–—") + "…"


def _tool_calls(db: Session, rows: list[Row], now: datetime) -> None:
    values = []
    for r in rows:
        d = r["data"]
        values.append(
            {
                **_CALL_DEFAULTS,
                "session_id": r["session_id"],
                "turn_id": r["turn_id"],
                "call_id": d["call_id"],
                "started_at": now,
                "tool": d["tool"],
                "args": d.get("args") or {},
                "command": d.get("command") or "",
                "target": d.get("target") or "",
                "risk": d.get("risk") or "read",
            }
        )
    upsert(db, TOOL_CALLS, ("session_id", "call_id"), ("tool", "args", "command", "target", "risk"), values)


def _tool_results(db: Session, rows: list[Row], now: datetime) -> None:
    shapes: dict[tuple[str, ...], list[Row]] = {}
    for r in rows:
        d = r["data"]
        update = {
            "tool": d["tool"],
            "duration_ms": d.get("duration_ms"),
            "exit_code": d.get("exit_code"),
            "ok": d.get("ok"),
            "output": d.get("output") or "",
            "truncated": bool(d.get("truncated")),
            "error": d.get("error"),
            "source": d.get("source"),
            "output_sha256": d.get("output_sha256"),
        }
        if d.get("command"):
            update["command"] = d["command"]
        started = _parse_time(d.get("started_at"))
        if started is not None:
            update["started_at"] = started
        value = {
            **_CALL_DEFAULTS,
            "session_id": r["session_id"],
            "turn_id": r["turn_id"],
            "call_id": d["call_id"],
            "started_at": now,
            **update,
        }
        shapes.setdefault(tuple(update), []).append(value)
    for update_cols, values in shapes.items():
        upsert(db, TOOL_CALLS, ("session_id", "call_id"), update_cols, values)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


_FINDING_COLS = (
    "signature",
    "title",
    "severity",
    "confidence",
    "remediation",
    "evidence",
    "next_checks",
    "facts",
    "turn_id",
)


def _findings(db: Session, rows: list[Row], now: datetime) -> None:
    values = []
    for r in rows:
        d = r["data"]
        value = {k: d.get(k) for k in ("signature", "title", "severity", "confidence", "remediation")}
        value.update(
            evidence=d.get("evidence") or [],
            next_checks=d.get("next_checks") or [],
            facts=d.get("facts") or {},
            turn_id=r["turn_id"],
            session_id=r["session_id"],
            finding_id=d["finding_id"],
            created_at=now,
        )
        values.append(value)
    upsert(db, FINDINGS, ("session_id", "finding_id"), _FINDING_COLS, values)


def upsert_approval(db: Session, sid: str, turn_id: str | None, d: dict[str, Any], now: datetime) -> None:
    """A pending approval row for an approval_required payload (idempotent: the approver may get there first)."""
    if db.execute(sa.select(APPROVALS.c.id).where(APPROVALS.c.id == d["approval_id"])).first() is not None:
        return
    db.execute(
        sa.insert(APPROVALS).values(
            id=d["approval_id"],
            session_id=sid,
            turn_id=turn_id,
            call_id=d.get("call_id") or "",
            tool=d["tool"],
            args=d.get("args") or {},
            command=d.get("command") or "",
            target=d.get("target") or "",
            risk=d.get("risk") or "write",
            reason=d.get("reason") or "",
            status="pending",
            created_at=now,
        )
    )


def _approvals_required(db: Session, rows: list[Row], now: datetime) -> None:
    for r in rows:
        upsert_approval(db, r["session_id"], r["turn_id"], r["data"], now)


def _approvals_decided(db: Session, rows: list[Row], now: datetime) -> None:
    for r in rows:
        d = r["data"]
        status = "expired" if d.get("expired") else "approved" if d["decision"] == "approve" else "denied"
        where = (APPROVALS.c.id == d["approval_id"]) & (APPROVALS.c.status == "pending")
        db.execute(
            sa.update(APPROVALS)
            .where(where)
            .values(status=status, decided_by=d.get("by"), comment=d.get("comment"), decided_at=now)
        )


def _findings_resolved(db: Session, rows: list[Row], now: datetime) -> None:
    for r in rows:
        where = (FINDINGS.c.session_id == r["session_id"]) & (
            FINDINGS.c.finding_id == r["data"]["finding_id"]
        )
        db.execute(
            sa.update(FINDINGS).where(where).values(resolved_at=now, resolved_by=r["data"]["verify_call_id"])
        )


def _turns_finished(db: Session, rows: list[Row], now: datetime) -> None:
    """A turn is over exactly when its turn_finished is in the log: close it and free the session."""
    for r in rows:
        turn_id = r["turn_id"]
        if turn_id:
            db.execute(
                sa.update(TURNS)
                .where(TURNS.c.id == turn_id)
                .values(status=r["data"].get("status") or "completed", finished_at=now)
            )
            db.execute(
                sa.update(APPROVALS)
                .where((APPROVALS.c.turn_id == turn_id) & (APPROVALS.c.status == "pending"))
                .values(
                    status="expired",
                    decided_by="firstline",
                    comment="the turn ended before a decision",
                    decided_at=now,
                )
            )
        db.execute(sa.update(SESSIONS).where(SESSIONS.c.id == r["session_id"]).values(status="idle"))


_ORDER: list[tuple[EventType, Callable[[Session, list[Row], datetime], None]]] = [
    (EventType.USER_MESSAGE, _messages("user")),
    (EventType.MESSAGE, _messages("assistant")),
    (EventType.TOOL_CALL, _tool_calls),
    (EventType.APPROVAL_REQUIRED, _approvals_required),
    (EventType.APPROVAL_DECIDED, _approvals_decided),
    (EventType.TOOL_RESULT, _tool_results),
    (EventType.FINDING, _findings),
    (EventType.FINDING_RESOLVED, _findings_resolved),
    (EventType.TURN_FINISHED, _turns_finished),
]


# ------------------------------------------------------------ upsert, on any database


def upsert(
    db: Session, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...], values: list[Row]
) -> None:
    """Insert each row, or update `update` columns of the row with the same `keys`, in as few statements as
    the rows allow: one per wave, where a wave never names the same key twice (PostgreSQL refuses that)."""
    dialect = db.get_bind().dialect.name
    for wave in _waves(values, keys):
        if dialect in ("postgresql", "sqlite"):
            ins = (postgresql if dialect == "postgresql" else sqlite).insert(table)
            db.execute(
                ins.on_conflict_do_update(
                    index_elements=list(keys), set_={c: ins.excluded[c] for c in update}
                ),
                wave,
            )
        else:  # other databases: update, and insert where nothing was there
            for value in wave:
                where = sa.and_(*(table.c[k] == value[k] for k in keys))
                if not db.execute(
                    sa.update(table).where(where).values({c: value[c] for c in update})
                ).rowcount:
                    db.execute(sa.insert(table).values(value))


def _waves(values: list[Row], keys: tuple[str, ...]) -> list[list[Row]]:
    """The n-th row of a key goes to wave n, so rows of one key are applied in their order."""
    waves: list[list[Row]] = []
    seen: dict[tuple, int] = {}
    for value in values:
        key = tuple(value[k] for k in keys)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(waves):
            waves.append([])
        waves[n].append(value)
    return waves
