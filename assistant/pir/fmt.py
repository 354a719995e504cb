"""Markdown-safe formatting for PIR text: times, durations, code spans, fences, table cells.

Stored text (the reporter's words, tool output, a model's prose) goes into Markdown that
people render on GitHub, in wikis and in Firstline's UI; these helpers keep such text
from changing the document's structure (a stray ``` or | or <script> stays text).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ESCAPE = re.compile(r"([\\`*_\[\]<>|])")
_TICKS = re.compile(r"`+")
_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def ts(value: datetime | None) -> str:
    """UTC, second precision, ISO 8601 (what the timeline and the command trail show)."""
    if value is None:
        return "unknown"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hm(value: datetime | None) -> str:
    return "unknown" if value is None else ts(value)[11:19]


def dur(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def flat(text: str | None) -> str:
    return " ".join((text or "").split())


def clip(text: str | None, limit: int) -> str:
    """One line of at most `limit` characters, cut at a word boundary (never mid-word), "…" when cut."""
    body = flat(text)
    if len(body) <= limit:
        return body
    head = body[: limit - 1]
    cut = head.rsplit(" ", 1)[0] if " " in head and body[limit - 1] != " " else head
    return cut.rstrip(" ,;:-–—") + "…"


def first_sentence(text: str | None, limit: int = 160) -> str:
    """The opening sentence of a message (what a summary or a why quotes), shortened."""
    body = flat(text)
    m = re.match(r"(.+?[.!?])(?:\s|$)", body)
    sentence = m.group(1) if m else body
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def escape(text: str | None) -> str:
    """Plain text for inline Markdown: one line, no emphasis, links, code or HTML."""
    return _ESCAPE.sub(r"\\\1", flat(text))


def code(text: str | None, in_table: bool = False) -> str:
    """An inline code span that survives backticks in `text` (and pipes, inside a table)."""
    body = flat(text)
    if in_table:
        body = body.replace("|", "\\|")
    if not body:
        return "(empty)"
    longest = max((len(m) for m in _TICKS.findall(body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{ticks}{pad}{body}{pad}{ticks}"


def fence(text: str | None, lang: str = "text") -> str:
    """A fenced block longer than any backtick run inside, so output can never close it early."""
    body = (text or "").rstrip("\n")
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{body}\n{ticks}"


def prose(text: str | None, in_table: bool = False) -> str:
    """Drafted prose (rules or a model): code spans and emphasis kept; HTML, line breaks and
    (in a table) pipes neutralised outside code spans."""
    out, pos, body = [], 0, flat(text)
    for m in _SPAN.finditer(body):
        out.append(_plain(body[pos : m.start()], in_table))
        out.append(m.group(0).replace("|", "\\|") if in_table else m.group(0))
        pos = m.end()
    out.append(_plain(body[pos:], in_table))
    return "".join(out)


_UNSAFE_LINK = re.compile(r"\]\((?!\s*(?:https?://|mailto:|#))")
"""`](` opening a link whose target is not http(s), mailto or an anchor (`javascript:`, `data:`...)."""


def _plain(text: str, in_table: bool) -> str:
    text = text.replace("<", "\\<").replace(">", "\\>")
    text = _UNSAFE_LINK.sub("]\\\\(", text)
    return text.replace("|", "\\|") if in_table else text


def cell(text: str | None) -> str:
    """Prose for a table cell."""
    return prose(text, in_table=True)


def quote(text: str | None, limit: int = 600) -> str:
    """The reporter's words, escaped, shortened, in quotation marks."""
    body = flat(text)
    if len(body) > limit:
        body = body[: limit - 1] + "…"
    return "“" + _ESCAPE.sub(r"\\\1", body) + "”"
