"""Prose stays prose: a raw output row pasted into a sentence is replaced by what it says, and the row
itself goes to the Evidence list.

"it is written by `ingest 48211 18.6 4.4 902144 …`" becomes "it is written by ingest-worker (pid 48211)",
and the `ps` row is quoted under **Evidence**, where quotes belong.
"""

from __future__ import annotations

import json
import re

from assistant.runbook.conversation import CallRecord, Conversation

MIN_ROW = 30
"""Shorter matches are names or values (a path, a pod), not rows."""
_SYSLOG = re.compile(
    r"^(?:[A-Z][a-z]{2}\s+\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.]+\S*) \S+ [\w().@/-]+(?:\[\d+\])?: "
)
_STAMP = re.compile(
    r"^\[?(?:\d{4}[-/]\d\d[-/]\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d| UTC| \+0000)?|"
    r"[A-Z][a-z]{2}\s+\d{1,2} \d\d:\d\d:\d\d)\]?\s*"
)
_NOISE = re.compile(
    r"^(?:\[\d+\]\s*|\d+#\d+:\s*(?:\*\d+\s*)?|\[?(?:ERROR|WARN(?:ING)?|INFO|DEBUG|FATAL|LOG|emerg|crit|"
    r"error|warn|notice|alert)\]?:?\s+|[\w.@-]+\[\d+\]:\s*)"
)
_PS = re.compile(
    r"^(?P<user>\S+)\s+(?P<pid>\d+)\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+(?P<cmd>.+)$"
)
_EVENT = re.compile(
    r"^(?P<age>\d+[smhd]\S*)\s+(?P<type>Normal|Warning)\s+(?P<reason>\w+)\s+(?P<obj>\S+)\s+(?P<msg>.*)$"
)
_POD = re.compile(
    r"^(?P<name>[a-z0-9][\w.-]+)\s+(?P<ready>\d+/\d+)\s+(?P<status>\S+)\s+(?P<restarts>\d+)(?:\s+\([^)]*\))?\s+\S+$"
)
_SS = re.compile(
    r"^(?:LISTEN|UNCONN|ESTAB)\s+\d+\s+\d+\s+(?P<local>\S+)\s+\S+\s+users:\(\(\"(?P<proc>[^\"]+)\",pid=(?P<pid>\d+)"
)
_DIG = re.compile(r"^(?P<name>\S+) has (?:IPv6 )?address (?P<addr>\S+)$")
_SPAN = re.compile(r"(`+) ?(.+?) ?\1")


def flat(text: str) -> str:
    return " ".join(text.split())


def is_row(line: str) -> bool:
    """A line as a tool prints it: a timestamped log line or a row of a table (ps, ss, pods, events, dig)."""
    line = flat(line)
    if len(line) < MIN_ROW:
        return False
    return bool(
        _SYSLOG.match(line)
        or _STAMP.match(line)
        or _PS.match(line)
        or _EVENT.match(line)
        or _POD.match(line)
        or _SS.match(line)
        or _DIG.match(line)
        or line.startswith('{"')
    )


def needle(row: str) -> str:
    """The part of a row that marks it as pasted: at least MIN_ROW characters and past its second column
    (a long pod name alone is a name, the name followed by `0/1` is the row)."""
    tokens = row.split(" ")
    return row[: max(MIN_ROW, len(" ".join(tokens[:2])) + 1)] if len(tokens) > 1 else row


def _clip(text: str, limit: int = 140) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    return (head.rsplit(" ", 1)[0] if " " in head else head) + "…"


def said(row: str) -> str:
    """What a row says, in words: the message of a log line, the subject of a table row."""
    row = flat(row)
    if m := _PS.match(row):
        prog = m.group("cmd").split()[0].rsplit("/", 1)[-1]
        return f"{prog} (pid {m.group('pid')})"
    if m := _EVENT.match(row):
        return f"a {m.group('reason')} event on {m.group('obj')} ({m.group('age')} ago): “{_clip(m.group('msg'), 100)}”"
    if m := _POD.match(row):
        return f"pod {m.group('name')} ({m.group('status')}, {m.group('restarts')} restarts)"
    if m := _SS.match(row):
        return f"{m.group('proc')} (pid {m.group('pid')}) listening on {m.group('local')}"
    if m := _DIG.match(row):
        return f"{m.group('name')}, which resolves to {m.group('addr')}"
    if row.startswith('{"'):
        try:
            data = json.loads(row)
            return f"“{_clip(str(data.get('msg') or data.get('message') or row), 120)}”"
        except ValueError:
            pass
    text = _SYSLOG.sub("", row)
    for _ in range(4):
        text = _STAMP.sub("", _NOISE.sub("", text))
    return f"“{_clip(text.strip(), 120)}”"


def _rows(conv: Conversation) -> list[tuple[str, CallRecord]]:
    """(the row with its spacing collapsed, its call); `raw` keeps each row as printed, for quoting."""
    out, seen = [], set()
    for c in conv.calls:
        for line in c.output.splitlines():
            key = flat(line)
            if key not in seen and is_row(key):
                seen.add(key)
                out.append((key, c))
    return out


def _as_printed(row: str, call: CallRecord) -> str:
    return next((ln.strip() for ln in call.output.splitlines() if flat(ln) == row), row)


def _replace(text: str, rows: list[tuple[str, CallRecord]], moved: list[tuple[str, CallRecord]]) -> str:
    """`text` (one prose line) with every embedded row, quoted in a code span or not, put in words."""
    text = flat(text)
    for m in list(_SPAN.finditer(text))[::-1]:
        body = m.group(2).rstrip("…").rstrip()
        hit = next(((r, c) for r, c in rows if len(body) >= len(needle(r)) and r.startswith(body)), None)
        if hit:
            moved.append(hit)
            end = m.end() + (1 if text[m.end() : m.end() + 1] == "…" else 0)
            text = text[: m.start()] + said(hit[0]) + text[end:]
    for row, call in rows:
        start = text.find(needle(row))
        if start < 0:
            continue
        end = start + len(needle(row))
        while end < len(text) and end - start < len(row) and text[end] == row[end - start]:
            end += 1
        end += 1 if text[end : end + 1] == "…" else 0
        moved.append((row, call))
        text = text[:start] + said(row) + text[end:]
    return text


def tidy(conv: Conversation, answer: str) -> str:
    """The answer with raw rows out of its sentences; each moved row quoted under **Evidence**."""
    rows = _rows(conv)
    if not rows:
        return answer
    lines, fenced = answer.split("\n"), False
    moved: list[tuple[str, CallRecord]] = []
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif line.strip() and not fenced and not line.lstrip().startswith(("- ", "* ", "> ")):
            lines[i] = _replace(line, rows, moved)
    unique = {row: c for row, c in moved}
    quoted = [
        f"- `{c.command or c.name}` showed `{_as_printed(row, c)}`"
        for row, c in unique.items()
        if not any(needle(row) in flat(ln) for ln in lines if ln.startswith("- "))
    ]
    if not quoted:
        return "\n".join(lines)
    if "**Evidence**" in lines:
        at = lines.index("**Evidence**") + 1
        while at < len(lines) and lines[at].startswith("- "):
            at += 1
        lines[at:at] = quoted
    else:
        at = next((i for i, ln in enumerate(lines) if not ln.strip()), len(lines))
        lines[at:at] = ["", "**Evidence**", *quoted]
    return "\n".join(lines)
