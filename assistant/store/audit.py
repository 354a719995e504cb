"""Writing the tamper-evident audit trail: entries chained inside the transaction of the events that cause them.

Each entry's `hash` is SHA-256 over the canonical JSON of its contents *including* `prev_hash`, the hash of
the entry before it; so editing, deleting or reordering any row breaks the chain at that row, and the head
row (`audit_head`: the last id and hash) catches rows cut off the end. `store.log.write_batch` calls
`audit_entries` and `append_entries` in the same transaction as the events, so an event and its audit entry
exist together or not at all. Appends are serialized on the head row (SELECT ... FOR UPDATE on PostgreSQL,
once per transaction however many entries it chains; SQLite's write lock is already held by BEGIN
IMMEDIATE). Approval entries chain the approval's whole record, which `assistant/audit.py` (verifying and
exporting) checks the `approvals` rows against. It lives in the store because the store writes it; the
reading side imports it, never the other way round.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from assistant.redaction import redact_value
from assistant.store.models import (
    APPROVALS,
    AUDIT_HEAD,
    AUDIT_LOG,
    EVENTS,
    GENESIS,
    TOOL_CALLS,
    ApprovalRow,
    AuditRow,
)
from tools.redact import redact

VERSION = 1
AUDITED = frozenset({"tool_result", "approval_required", "approval_decided", "turn_finished"})
"""Event types that may leave an audit entry: a tool execution, an approval request or decision, and the end of
a turn (which expires the approvals still pending)."""
APPROVAL_KINDS = ("approval_request", "approval_decision", "approval_expired")
__all__ = [
    "APPROVAL_KINDS",
    "AUDITED",
    "GENESIS",
    "HASHED",
    "VERSION",
    "append_entries",
    "approval_record",
    "audit_entries",
    "audit_stamp",
    "canonical",
    "entry_hash",
    "row_dict",
]

_LOG, _HEAD = AUDIT_LOG, AUDIT_HEAD

HASHED = (
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
    body = {k: entry.get(k) for k in HASHED}
    body["v"] = VERSION
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def audit_stamp(dt: datetime) -> str:
    """An entry's `at`: UTC, ISO 8601 with microseconds and Z, so it sorts as text."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_dict(row: AuditRow) -> dict[str, Any]:
    """A stored entry as the dict its hash was computed over (plus id and hash)."""
    return {k: getattr(row, k) for k in ("id", *HASHED, "hash")}


def audit_entries(db: Session, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The audit entries (redacted, not yet chained) for those appended event rows that call for one
    (tool_result, approval_decided), in order. The calls, approvals and actors of a whole batch are read in three queries."""
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
            fields.update(kind=kind, at=audit_stamp(now), session_id=sid, turn_id=turn_id)
            fields["command"] = redact(fields.get("command") or "")
            fields["detail"] = redact_value(fields.get("detail") or {}, redact)
            entries.append(fields)
    return entries


def _expired(db: Session, turn_id: str | None, now: datetime) -> list[str]:
    """Approvals the end of this turn just expired (store/derive.py stamped them with `now`)."""
    if not turn_id:
        return []
    t = APPROVALS
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
        results = [r for r in rows if r["type"] == "tool_result"]
        if not results:
            return cls({}, {}, {})
        calls_t, approvals_t, events_t = TOOL_CALLS, APPROVALS, EVENTS
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
        entry = {k: fields.get(k) for k in HASHED}
        entry["prev_hash"] = prev
        prev = entry_hash(entry)
        seq += 1
        rows.append({"id": seq, **entry, "hash": prev})
    db.execute(sa.insert(_LOG), rows)
    db.execute(sa.update(_HEAD).where(_HEAD.c.id == 1).values(seq=seq, hash=prev))
    return rows
