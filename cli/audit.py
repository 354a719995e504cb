"""`firstline audit verify | export | anchor`: the audit trail's checks and exports, printed for a terminal.

The chain itself (writing, verifying, exporting) is assistant/audit.py; this module only opens the store,
prints and picks the exit code.
"""

from __future__ import annotations

import json
import sys

from sqlalchemy.engine import Engine

from assistant import audit, audit_anchor, store
from assistant.config import Settings
from assistant.store import StoreUnavailable


def _engine(settings: Settings) -> Engine:
    return store.open_store(settings.db_url)


def verify_cli(settings: Settings, anchor: str | None = None) -> int:
    """`firstline audit verify [--anchor A]`: 0 and a count when intact; 1 naming the first bad entry; 2 if
    unreachable or the anchor cannot be read."""
    try:
        anchored = audit_anchor.parse(anchor) if anchor else None
        engine = _engine(settings)
    except (StoreUnavailable, OSError, ValueError) as exc:
        print(f"firstline: {exc}", file=sys.stderr)
        return 2
    try:
        verdict = audit.verify(engine)
        if verdict.ok and anchored is not None:
            verdict = audit_anchor.check(engine, verdict, anchored)
    finally:
        engine.dispose()
    if verdict.ok:
        also = f"; anchor at entry {anchored['seq']} matches" if anchored else ""
        print(f"audit trail intact: {verdict.count} entries, head {verdict.head}{also}")
        return 0
    print(f"audit trail BROKEN at entry {verdict.entry_id} ({verdict.problem}): {verdict.message}")
    return 1


def export_cli(settings: Settings, since: str | None) -> int:
    """`firstline audit export [--since T]`: one JSON object per line on stdout (for a SIEM)."""
    try:
        bound = audit.parse_since(since) if since else None
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
        for entry in audit.export(engine, bound):
            sys.stdout.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
    finally:
        engine.dispose()
    sys.stdout.flush()
    return 0


def anchor_cli(settings: Settings, to: str | None) -> int:
    """`firstline audit anchor [--to file|syslog|URL]`: print or send the head of an intact chain."""
    try:
        engine = _engine(settings)
    except StoreUnavailable as exc:
        print(f"firstline: {exc}", file=sys.stderr)
        return 2
    try:
        print(audit_anchor.send(audit_anchor.current(engine), to))
    except (ValueError, OSError) as exc:
        print(f"firstline: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0
