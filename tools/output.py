"""Turning whatever a command printed into text that is safe to show, store and send."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(raw: bytes | str) -> str:
    """Decode (invalid UTF-8 replaced), strip ANSI escapes and stray control characters."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.replace("\r\n", "\n")
    text = _ANSI.sub("", text)
    return _CONTROL.sub("", text)


def cap(text: str, limit: int) -> tuple[str, bool]:
    """Keep head and tail within `limit` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    marker = f"\n… [{cut} characters truncated] …\n"
    return text[:head] + marker + text[-tail:], True
