"""External anchors of the audit chain: the head (entry count and hash) kept somewhere the database's
owner cannot rewrite, so cutting entries off the end and winding `audit_head` back is caught.

`firstline audit anchor` prints the anchor, appends it to a file, sends it to syslog, or POSTs it to a
webhook (run it from cron); `firstline audit verify --anchor A` (A: the JSON, or a file of them, the last
line counting) checks that the chain still holds that entry with that hash.
"""

from __future__ import annotations

import json
import logging.handlers
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from assistant.audit import AuditRow, Verdict, verify


def current(engine: Engine) -> dict[str, Any]:
    """The anchor of an intact chain: {"seq", "hash", "at"}; ValueError when the chain is already broken."""
    verdict = verify(engine)
    if not verdict.ok:
        raise ValueError(f"the audit trail is broken, nothing to anchor: {verdict.message}")
    return {
        "seq": verdict.count,
        "hash": verdict.head,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def send(anchor: dict[str, Any], to: str | None) -> str:
    """Deliver the anchor: None/'-' prints it, 'syslog' logs it, http(s):// POSTs it, anything else is a file
    it is appended to. Returns what was done."""
    line = json.dumps(anchor, sort_keys=True)
    if to in (None, "-"):
        return line
    if to == "syslog":
        handler = logging.handlers.SysLogHandler(
            address="/dev/log" if Path("/dev/log").exists() else ("127.0.0.1", 514)
        )
        handler.emit(
            logging.makeLogRecord(
                {"msg": f"firstline audit anchor {line}", "levelno": logging.INFO, "levelname": "INFO"}
            )
        )
        handler.close()
        return f"sent to syslog: {line}"
    if to.startswith(("http://", "https://")):
        request = urllib.request.Request(
            to, data=line.encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"posted to {to} ({response.status}): {line}"
    with open(to, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    return f"appended to {to}: {line}"


def parse(value: str) -> dict[str, Any]:
    """An anchor given as JSON or as a file of them (its last non-empty line)."""
    text = value
    if not value.lstrip().startswith("{"):
        lines = [ln for ln in Path(value).read_text(encoding="utf-8").splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"{value}: no anchor in it")
        text = lines[-1]
    anchor = json.loads(text)
    if (
        not isinstance(anchor, dict)
        or not isinstance(anchor.get("seq"), int)
        or not isinstance(anchor.get("hash"), str)
    ):
        raise ValueError("an anchor is a JSON object with an integer seq and a hash")
    return anchor


def check(engine: Engine, verdict: Verdict, anchor: dict[str, Any]) -> Verdict:
    """The chain must still reach the anchored entry, with the anchored hash."""
    seq, expected = anchor["seq"], anchor["hash"]
    if seq == 0:
        return verdict
    if verdict.count < seq:
        return Verdict(
            False,
            verdict.count,
            verdict.head,
            verdict.count + 1,
            "missing",
            f"entries {verdict.count + 1}-{seq} missing: the anchor of {anchor.get('at', '?')} saw "
            f"{seq} entries, the chain now has {verdict.count} (cut off the end, head wound back)",
        )
    with Session(engine) as db:
        row = db.get(AuditRow, seq)
    if row is None or row.hash != expected:
        return Verdict(
            False,
            verdict.count,
            verdict.head,
            seq,
            "edited",
            f"entry {seq} is not the one anchored at {anchor.get('at', '?')}: the chain was rewritten",
        )
    return verdict
