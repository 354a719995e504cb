"""The tamper-evident audit trail: every tool execution, approval request, decision and expiry, hash-chained.

Each entry's `hash` is SHA-256 over the canonical JSON of its contents *including*
`prev_hash`, the hash of the entry before it; so editing, deleting or reordering any
row breaks the chain at that row, and `audit_head` (the last id and hash) catches
rows cut off the end. Entries are written by the store inside the same transaction
as the event that causes them (`audit_entries` and `append_entries`, called from
`store.log.write_batch`), so an event and its audit entry exist together or not at all.
Appends are serialized on the head row (SELECT ... FOR UPDATE on PostgreSQL, once per
transaction, however many entries it chains; SQLite's write lock is already held by
BEGIN IMMEDIATE). Approval entries chain the approval's whole record (tool, arguments,
command, status, who decided, comment); `verify` checks the `approvals` rows still say the
same. Anyone who can rewrite the whole table can recompute the chain, or cut entries off the
end and wind the head back: keep the head elsewhere too (`firstline audit anchor`, checked by
`verify --anchor`; assistant/audit_anchor.py) or export it to a SIEM (`firstline audit export`).
"""

from __future__ import annotations

import hashlib
import json
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
AUDITED = frozenset({"tool_result", "approval_required", "approval_decided", "turn_finished"})
"""Event types that may leave an audit entry: a tool execution, an approval request or decision, and the end of
a turn (which expires the approvals still pending)."""
APPROVAL_KINDS = ("approval_request", "approval_decision", "approval_expired")


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


_LOG, _HEAD = AuditRow.__table__, AuditHead.__table__

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


audit_stamp = _stamp
"""An entry's `at` for entries written outside `audit_entries` (a force-closed turn, store/closing.py)."""


def _row_dict(row: AuditRow) -> dict[str, Any]:
    return {k: getattr(row, k) for k in ("id", *_HASHED, "hash")}


# ------------------------------------------------------------------ writing (inside the event's transaction)


def audit_entries(db: Session, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The audit entries (redacted, not yet chained) for those appended event rows that call for one
    (tool_result, approval_decided), in order. The calls, approvals and actors of a whole batch are read in three queries."""
    from assistant.redaction import redact_value
    from tools.redact import redact

    context = _ToolContext.load(db, rows)
    entries = []
    for r in rows:
        if r["type"] not in AUDITED:
            continue
        sid, turn_id, d = r["session_id"], r["turn_id"], r["data"]
        if r["type"] == "tool_result":
            found = [(context.entry(sid, turn_id, d), "tool_execution")]
        elif r["type"] == "approval_required":
            found = [(_approval_entry(db, d["approval_id"], "firstline"), "approval_request")]
        elif r["type"] == "approval_decided":
            found = [(_approval_entry(db, d["approval_id"], d.get("by") or "", d), "approval_decision")]
        else:
            found = [
                (_approval_entry(db, a, "firstline"), "approval_expired") for a in _expired(db, turn_id, now)
            ]
        for fields, kind in found:
            fields.update(kind=kind, at=_stamp(now), session_id=sid, turn_id=turn_id)
            fields["command"] = redact(fields.get("command") or "")
            fields["detail"] = redact_value(fields.get("detail") or {}, redact)
            entries.append(fields)
    return entries


def _expired(db: Session, turn_id: str | None, now: datetime) -> list[str]:
    """Approvals the end of this turn just expired (store/derive.py stamped them with `now`)."""
    from assistant.store.models import ApprovalRow

    if not turn_id:
        return []
    t = ApprovalRow.__table__
    return list(
        db.execute(
            sa.select(t.c.id)
            .where(t.c.turn_id == turn_id, t.c.status == "expired", t.c.decided_at == now)
            .order_by(t.c.created_at)
        ).scalars()
    )


@dataclass
class _ToolContext:
    """What a tool execution's audit entry needs beyond its result: the call, any approval, who drove the turn."""

    calls: dict[tuple[str, str], Any]
    approvals: dict[tuple[str, str], Any]
    actors: dict[str, str]

    @classmethod
    def load(cls, db: Session, rows: list[dict[str, Any]]) -> _ToolContext:
        """For the tool results among `rows` (a batch being appended, whose own user messages count too)."""
        from assistant.store.models import ApprovalRow, EventRow, ToolCallRow

        results = [r for r in rows if r["type"] == "tool_result"]
        if not results:
            return cls({}, {}, {})
        calls_t, approvals_t, events_t = ToolCallRow.__table__, ApprovalRow.__table__, EventRow.__table__
        sids = sorted({r["session_id"] for r in results})
        call_ids = sorted({r["data"]["call_id"] for r in results})
        turn_ids = sorted({r["turn_id"] for r in results if r["turn_id"]})
        calls = {
            (c.session_id, c.call_id): c
            for c in db.execute(
                sa.select(
                    calls_t.c.session_id,
                    calls_t.c.call_id,
                    calls_t.c.args,
                    calls_t.c.risk,
                    calls_t.c.target,
                    calls_t.c.command,
                ).where(calls_t.c.session_id.in_(sids), calls_t.c.call_id.in_(call_ids))
            )
        }
        approvals: dict[tuple[str, str], Any] = {}
        for a in db.execute(
            sa.select(
                approvals_t.c.session_id,
                approvals_t.c.call_id,
                approvals_t.c.id,
                approvals_t.c.decided_by,
                approvals_t.c.status,
            )
            .where(approvals_t.c.session_id.in_(sids), approvals_t.c.call_id.in_(call_ids))
            .order_by(approvals_t.c.created_at)
        ):
            approvals.setdefault((a.session_id, a.call_id), a)
        actors = {
            r["turn_id"]: str(r["data"].get("author") or "")
            for r in rows
            if r["type"] == "user_message" and r["turn_id"]
        }
        if turn_ids:
            for turn_id, data in db.execute(
                sa.select(events_t.c.turn_id, events_t.c.data).where(
                    events_t.c.session_id.in_(sids),
                    events_t.c.turn_id.in_(turn_ids),
                    events_t.c.type == "user_message",
                )
            ):
                actors.setdefault(turn_id, str((data or {}).get("author") or ""))
        return cls(calls, approvals, actors)

    def entry(self, sid: str, turn_id: str | None, d: dict[str, Any]) -> dict[str, Any]:
        call = self.calls.get((sid, d["call_id"]))
        approval = self.approvals.get((sid, d["call_id"]))
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
        if d.get("host"):
            detail["host"] = d["host"]
        remote = d.get("remote") or {}
        if remote:  # a node ran it: which node, with which token, through which replica
            detail.update(node=remote.get("node"), token_id=remote.get("token_id"), via=remote.get("via"))
        return {
            "actor": self.actors.get(turn_id or "", ""),
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


def approval_record(approval: Any) -> dict[str, Any]:
    """The fields of an approvals row the chain vouches for (verify compares the row with them)."""
    return {
        "tool": approval.tool,
        "args": approval.args,
        "command": approval.command,
        "target": approval.target,
        "reason": (approval.reason or "")[:500],
        "status": approval.status,
        "decided_by": approval.decided_by,
        "comment": approval.comment,
    }


def _approval_entry(
    db: Session, approval_id: str, actor: str, d: dict[str, Any] | None = None
) -> dict[str, Any]:
    from assistant.store.models import ApprovalRow

    approval = db.get(ApprovalRow, approval_id)
    db.refresh(approval) if approval is not None else None  # derive just updated it in this transaction
    detail: dict[str, Any] = {
        "record": approval_record(approval) if approval else {},
        "args": approval.args if approval else {},
        "reason": (approval.reason if approval else "")[:500],
    }
    if d is not None:
        detail.update(decision=d["decision"], comment=d.get("comment"))
    return {
        "actor": actor,
        "target": approval.target if approval else "",
        "tool": approval.tool if approval else "",
        "call_id": approval.call_id if approval else None,
        "approval_id": approval_id,
        "command": approval.command if approval else "",
        "exit_code": None,
        "duration_ms": None,
        "output_sha256": None,
        "detail": detail,
    }


def append_entries(db: Session, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain `entries` onto the head, in order, under one lock of the head row; return the stored rows.
    The lock is taken last in the transaction, so it is held only for the few statements up to commit."""
    if not entries:  # a turn_finished that expired nothing: no entry, no lock
        return []
    head = db.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()).first()
    if (
        head is None
    ):  # only if someone deleted it; start again from the last entry (verify still checks links)
        last = db.execute(sa.select(_LOG.c.id, _LOG.c.hash).order_by(_LOG.c.id.desc()).limit(1)).first()
        seq, prev = (last.id, last.hash) if last else (0, GENESIS)
        db.execute(sa.insert(_HEAD).values(id=1, seq=seq, hash=prev))
    else:
        seq, prev = head.seq, head.hash
    rows = []
    for fields in entries:
        entry = {k: fields.get(k) for k in _HASHED}
        entry["prev_hash"] = prev
        prev = entry_hash(entry)
        seq += 1
        rows.append({"id": seq, **entry, "hash": prev})
    db.execute(sa.insert(_LOG), rows)
    db.execute(sa.update(_HEAD).where(_HEAD.c.id == 1).values(seq=seq, hash=prev))
    return rows


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
    verdict = _check_head(len(rows), prev, head)
    return verdict if not verdict.ok else _check_approvals(engine, rows, verdict)


def _check_approvals(engine: Engine, rows: list[AuditRow], verdict: Verdict) -> Verdict:
    """Each approvals row still says what its last chained entry says (a deleted session's rows are gone)."""
    from assistant.redaction import redact_value
    from assistant.store.models import ApprovalRow
    from tools.redact import redact

    last = {
        r.approval_id: r
        for r in rows
        if r.kind in APPROVAL_KINDS and r.approval_id and r.detail.get("record")
    }
    if not last:
        return verdict
    with Session(engine) as db:
        current = {a.id: a for a in db.exec(select(ApprovalRow).where(col(ApprovalRow.id).in_(list(last))))}
    for approval_id, entry in sorted(last.items(), key=lambda kv: kv[1].id):
        row = current.get(approval_id)
        if row is None:
            continue
        now = redact_value(approval_record(row), redact)
        chained = entry.detail["record"]
        changed = sorted(k for k in chained if now.get(k) != chained[k])
        if changed:
            field = changed[0]
            return _bad(
                verdict.count,
                verdict.head,
                entry.id,
                "edited",
                f"approval {approval_id} edited after it was chained (entry {entry.id}): {field} is "
                f"{now.get(field)!r}, the audit trail says {chained[field]!r}",
            )
    return verdict


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
