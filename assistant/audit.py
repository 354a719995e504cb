"""The tamper-evident audit trail: every tool execution and every approval decision, hash-chained.

Each entry's `hash` is SHA-256 over the canonical JSON of its contents *including*
`prev_hash`, the hash of the entry before it; so editing, deleting or reordering any
row breaks the chain at that row, and `audit_head` (the last id and hash) catches
rows cut off the end. Entries are written by the store inside the same transaction
as the event that causes them (`record_event`, called from `store.log.append_event`),
so an event and its audit entry exist together or not at all. Appends are serialized
on the head row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write lock is already
held by BEGIN IMMEDIATE). Anyone who can rewrite the whole table can recompute the
chain: export it to a SIEM (`firstline audit export`) so the hashes live elsewhere too.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Column
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

GENESIS = "0" * 64
VERSION = 1
_AUDITED = {"tool_result": "tool_execution", "approval_decided": "approval_decision"}


class AuditRow(SQLModel, table=True):
    """One audit entry. Columns are what a SIEM filters on; `detail` holds the rest."""

    __tablename__ = "audit_log"

    id: int = Field(primary_key=True)
    """Position in the chain: 1, 2, 3... with no gaps (a gap is a deleted entry)."""
    at: str = Field(max_length=32)
    """UTC, ISO 8601 with microseconds and Z; sorts as text."""
    kind: str = Field(max_length=32)
    session_id: str = Field(max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    actor: str = Field(default="", max_length=200)
    target: str = Field(default="", max_length=200)
    tool: str = Field(default="", max_length=64)
    call_id: str | None = Field(default=None, max_length=128)
    approval_id: str | None = Field(default=None, max_length=128)
    command: str = ""
    exit_code: int | None = None
    duration_ms: float | None = None
    output_sha256: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The single row naming the last entry (id 1); locking it serializes appends."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS, max_length=64)


_HASHED = (
    "at",
    "kind",
    "session_id",
    "turn_id",
    "actor",
    "target",
    "tool",
    "call_id",
    "approval_id",
    "command",
    "exit_code",
    "duration_ms",
    "output_sha256",
    "detail",
    "prev_hash",
)


def canonical(entry: dict[str, Any]) -> bytes:
    """The exact bytes hashed: sorted keys, no whitespace, UTF-8, only the hashed fields, plus a version."""
    body = {k: entry.get(k) for k in _HASHED}
    body["v"] = VERSION
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row_dict(row: AuditRow) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("id", *_HASHED, "hash")}


# ------------------------------------------------------------------ writing (inside the event's transaction)


def record_event(
    db: Session, session_id: str, turn_id: str | None, event_type: str, data: dict[str, Any], now: datetime
) -> AuditRow | None:
    """Append the audit entry an event calls for (tool_result, approval_decided); others are ignored."""
    kind = _AUDITED.get(event_type)
    if kind is None:
        return None
    from assistant.redaction import redact_value
    from tools.redact import redact

    build = _tool_entry if kind == "tool_execution" else _approval_entry
    fields = build(db, session_id, turn_id, data)
    fields.update(kind=kind, at=_stamp(now), session_id=session_id, turn_id=turn_id)
    fields["command"] = redact(fields.get("command") or "")
    fields["detail"] = redact_value(fields.get("detail") or {}, redact)
    return append_entry(db, fields)


def _actor(db: Session, session_id: str, turn_id: str | None) -> str:
    """Who drove the turn: the author of its user message."""
    from assistant.store.models import EventRow

    if not turn_id:
        return ""
    stmt = (
        sa.select(EventRow.data)
        .where(
            col(EventRow.session_id) == session_id,
            col(EventRow.turn_id) == turn_id,
            col(EventRow.type) == "user_message",
        )
        .limit(1)
    )
    data = db.execute(stmt).scalar()
    return str((data or {}).get("author") or "")


def _tool_entry(db: Session, sid: str, turn_id: str | None, d: dict[str, Any]) -> dict[str, Any]:
    from assistant.store.models import ApprovalRow, ToolCallRow

    call = db.exec(
        select(ToolCallRow).where(ToolCallRow.session_id == sid, ToolCallRow.call_id == d["call_id"])
    ).first()
    approval = db.exec(
        select(ApprovalRow).where(ApprovalRow.session_id == sid, ApprovalRow.call_id == d["call_id"])
    ).first()
    outcome = "cached" if d.get("cached") else "executed" if d.get("output_sha256") else "not_run"
    detail = {
        "args": call.args if call else {},
        "risk": call.risk if call else "read",
        "ok": d.get("ok"),
        "outcome": outcome,
        "error": (d.get("error") or None) and str(d["error"])[:500],
        "truncated": bool(d.get("truncated")),
        "source": d.get("source"),
    }
    if approval is not None:
        detail.update(approved_by=approval.decided_by, approval_status=approval.status)
    return {
        "actor": _actor(db, sid, turn_id),
        "target": call.target if call else "",
        "tool": d["tool"],
        "call_id": d["call_id"],
        "approval_id": approval.id if approval else None,
        "command": d.get("command") or (call.command if call else ""),
        "exit_code": d.get("exit_code"),
        "duration_ms": float(d["duration_ms"]) if d.get("duration_ms") is not None else None,
        "output_sha256": d.get("output_sha256"),
        "detail": detail,
    }


def _approval_entry(db: Session, sid: str, turn_id: str | None, d: dict[str, Any]) -> dict[str, Any]:
    from assistant.store.models import ApprovalRow

    approval = db.get(ApprovalRow, d["approval_id"])
    detail = {
        "decision": d["decision"],
        "comment": d.get("comment"),
        "args": approval.args if approval else {},
        "reason": (approval.reason if approval else "")[:500],
    }
    return {
        "actor": d.get("by") or "",
        "target": approval.target if approval else "",
        "tool": approval.tool if approval else "",
        "call_id": approval.call_id if approval else None,
        "approval_id": d["approval_id"],
        "command": approval.command if approval else "",
        "exit_code": None,
        "duration_ms": None,
        "output_sha256": None,
        "detail": detail,
    }


def append_entry(db: Session, fields: dict[str, Any]) -> AuditRow:
    """Chain `fields` onto the head under its row lock and return the stored entry."""
    head = db.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if (
        head is None
    ):  # only if someone deleted it; start again from the last entry (verify still checks links)
        last = db.exec(select(AuditRow).order_by(col(AuditRow.id).desc()).limit(1)).first()
        head = AuditHead(id=1, seq=last.id if last else 0, hash=last.hash if last else GENESIS)
        db.add(head)
        db.flush()
    entry = {k: fields.get(k) for k in _HASHED}
    entry["prev_hash"] = head.hash
    digest = entry_hash(entry)
    row = AuditRow(id=head.seq + 1, **entry, hash=digest)
    db.add(row)
    db.execute(sa.update(AuditHead).where(col(AuditHead.id) == 1).values(seq=row.id, hash=digest))
    db.flush()
    return row


# ------------------------------------------------------------------ verifying


@dataclass
class Verdict:
    ok: bool
    count: int
    head: str
    entry_id: int | None = None
    problem: str | None = None
    """edited / missing / reordered."""
    message: str = ""


def _bad(count: int, head: str, entry_id: int, problem: str, message: str) -> Verdict:
    return Verdict(False, count, head, entry_id, problem, message)


def verify(engine: Engine) -> Verdict:
    """Walk the chain from the first entry; report the first entry that was edited, removed or moved."""
    with Session(engine) as db:
        rows = list(db.exec(select(AuditRow).order_by(col(AuditRow.id))))
        head = db.get(AuditHead, 1)
    by_hash = {r.hash: r.id for r in rows}
    prev, expected = GENESIS, 1
    for row in rows:
        if row.id != expected:
            gap = f"{expected}" if row.id == expected + 1 else f"{expected}-{row.id - 1}"
            return _bad(
                len(rows), prev, expected, "missing", f"entry {gap} missing: deleted before entry {row.id}"
            )
        if entry_hash(_row_dict(row)) != row.hash:
            return _bad(
                len(rows),
                prev,
                row.id,
                "edited",
                f"entry {row.id} edited: its contents no longer match its hash",
            )
        if row.prev_hash != prev:
            if row.prev_hash in by_hash and by_hash[row.prev_hash] != row.id - 1:
                return _bad(
                    len(rows),
                    prev,
                    row.id,
                    "reordered",
                    f"entry {row.id} reordered: it links to entry {by_hash[row.prev_hash]}, not {row.id - 1}",
                )
            if head is not None and head.seq > len(rows):  # rows were renumbered to hide a deletion
                return _bad(
                    len(rows),
                    prev,
                    row.id,
                    "missing",
                    f"entry missing before entry {row.id}: it links to "
                    f"an entry that is gone ({len(rows)} of {head.seq})",
                )
            return _bad(
                len(rows),
                prev,
                row.id - 1,
                "edited",
                f"entry {row.id - 1} edited: rewritten with a new "
                f"hash; entry {row.id} still links to the original",
            )
        prev, expected = row.hash, expected + 1
    return _check_head(len(rows), prev, head)


def _check_head(count: int, last_hash: str, head: AuditHead | None) -> Verdict:
    if head is None:
        return _bad(count, last_hash, count, "missing", "the chain head (audit_head) is missing")
    if head.seq > count:
        gap = f"{count + 1}" if head.seq == count + 1 else f"{count + 1}-{head.seq}"
        return _bad(
            count,
            last_hash,
            count + 1,
            "missing",
            f"entry {gap} missing: deleted from the end (the head says {head.seq} entries)",
        )
    if head.seq != count or head.hash != last_hash:
        return _bad(
            count,
            last_hash,
            count,
            "edited",
            f"the chain head ({head.seq}, {head.hash[:12]}) does not match entry {count}",
        )
    return Verdict(True, count, last_hash)


# ------------------------------------------------------------------ exporting


def parse_since(since: str) -> str:
    """An ISO date or time (Z or offset; naive means UTC) as the stored `at` format; ValueError if not one."""
    text = since.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return _stamp(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def export(engine: Engine, since: str | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Entries (oldest first) at or after `since`, as flat JSON-ready dicts with their hashes."""
    after = 0
    while True:
        with Session(engine) as db:
            stmt = select(AuditRow).where(AuditRow.id > after)
            if since:
                stmt = stmt.where(AuditRow.at >= since)
            rows = list(db.exec(stmt.order_by(col(AuditRow.id)).limit(batch)))
        for row in rows:
            yield _row_dict(row)
        if len(rows) < batch:
            return
        after = rows[-1].id


# ------------------------------------------------------------------ CLI (`firstline audit ...`)


def _engine(settings) -> Engine:
    from assistant import store

    return store.open_store(settings.db_url)


def verify_cli(settings) -> int:
    """`firstline audit verify`: 0 and a count when intact; 1 naming the first bad entry; 2 if unreachable."""
    from assistant.store import StoreUnavailable

    try:
        engine = _engine(settings)
    except StoreUnavailable as exc:
        print(f"firstline: {exc}", file=sys.stderr)
        return 2
    try:
        verdict = verify(engine)
    finally:
        engine.dispose()
    if verdict.ok:
        print(f"audit trail intact: {verdict.count} entries, head {verdict.head}")
        return 0
    print(f"audit trail BROKEN at entry {verdict.entry_id} ({verdict.problem}): {verdict.message}")
    return 1


def export_cli(settings, since: str | None) -> int:
    """`firstline audit export [--since T]`: one JSON object per line on stdout (for a SIEM)."""
    from assistant.store import StoreUnavailable

    try:
        bound = parse_since(since) if since else None
    except ValueError:
        print(
            f"firstline: --since {since!r} is not an ISO date or time (e.g. 2026-11-01T00:00:00Z)",
            file=sys.stderr,
        )
        return 2
    try:
        engine = _engine(settings)
    except StoreUnavailable as exc:
        print(f"firstline: {exc}", file=sys.stderr)
        return 2
    try:
        for entry in export(engine, bound):
            sys.stdout.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
    finally:
        engine.dispose()
    sys.stdout.flush()
    return 0
