"""A log or stack trace the engineer pastes: kept as a tool output "pasted by the engineer".

A paste too long for a chat message is still evidence. Stored as a tool call and its result in the
user's turn (cleaned, redacted and capped like any tool output), it is analysed by the same analyzers,
shown as a card, cited in the PIR, and read by the model from history like any other output.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from assistant.events import Event, Finding, ToolCall, ToolResultEvent
from assistant.findings import analyze_text
from assistant.redaction import Redactor
from tools.output import cap, clean

PASTE_TOOL = "pasted_log"
PASTE_COMMAND = "pasted by the engineer"


def paste_events(
    text: str, *, redactor: Redactor, cap_chars: int, history: list[Event], turn_id: str | None = None
) -> list[Event]:
    """The call, its result and the new findings of one paste (findings numbered after the session's)."""
    cleaned = redactor(clean(text))
    output, truncated = cap(cleaned, cap_chars)
    call_id = "p" + uuid.uuid4().hex[:12]
    lines = output.count("\n") + 1
    result = ToolResultEvent(
        call_id=call_id,
        tool=PASTE_TOOL,
        ok=True,
        exit_code=None,
        truncated=truncated,
        output=output,
        excerpt=output[:300],
        command=PASTE_COMMAND,
        source=f"paste · {lines} lines · {len(cleaned)} characters",
        started_at=datetime.now(UTC).isoformat(),
        output_sha256=hashlib.sha256(cleaned.encode()).hexdigest(),
    )
    call = ToolCall(call_id=call_id, tool=PASTE_TOOL, command=PASTE_COMMAND, risk="read")
    prior = [ev.data for ev in history if isinstance(ev.data, Finding)]
    found = analyze_text(PASTE_TOOL, output, call_id=call_id, command=PASTE_COMMAND, prior=prior)
    return [Event.of(call, turn_id), Event.of(result, turn_id)] + [
        Event.of(f, turn_id) for f in _fresh(prior, found)
    ]


def _key(f: Finding) -> str:
    return f.signature + json.dumps(f.facts, sort_keys=True, default=str)


def _fresh(prior: list[Finding], found: list[Finding]) -> list[Finding]:
    """The loop's rule (assistant/calls.py): a finding seen before is not announced again; ids continue."""
    seen = {_key(f) for f in prior}
    fresh: list[Finding] = []
    for f in found:
        if _key(f) in seen:
            continue
        seen.add(_key(f))
        f.finding_id = f"F{len(prior) + len(fresh) + 1}"
        fresh.append(f)
    return fresh
