"""Checking and exporting the tamper-evident audit trail (the store writes it: assistant/store/audit.py).

`verify` walks the chain from the first entry and names the first entry edited, removed or moved, then checks
the `approvals` rows still say what their last chained entry says. Anyone who can rewrite the whole table can
recompute the chain, or cut entries off the end and wind the head back: keep the head elsewhere too
(`firstline audit anchor`, checked by `verify --anchor`; assistant/audit_anchor.py) or export it to a SIEM
(`firstline audit export`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from assistant.redaction import redact_value
from assistant.store.audit import APPROVAL_KINDS, GENESIS, approval_record, audit_stamp, entry_hash, row_dict
from assistant.store.models import ApprovalRow, AuditHead, AuditRow
from tools.redact import redact

__all__ = ["GENESIS", "AuditRow", "Verdict", "entry_hash", "export", "parse_since", "verify"]


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
        if entry_hash(row_dict(row)) != row.hash:
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
    return audit_stamp(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


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
            yield row_dict(row)
        if len(rows) < batch:
            return
        after = rows[-1].id
