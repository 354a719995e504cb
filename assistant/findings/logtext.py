"""Reading log lines the way they really arrive: framed, prefixed, timestamped in several styles, cut off.

Shared by the analyzers so every one of them tolerates the same variations: a
`stdout:`/`stderr:` frame, journal lines with or without a hostname, ISO, syslog,
nginx and klog timestamps, and an output cut in the middle of a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FRAME = re.compile(r"^\s*(?:stdout|stderr|STDOUT|STDERR)\s*[:|>]\s?")
_SOURCE_PREFIX = re.compile(r"^\[pod/[\w.-]+/[\w.-]+\] ")
"""`kubectl logs --prefix` (and `-l app=x` across pods): each line starts with [pod/NAME/CONTAINER]."""
_TIMESTAMPS = [
    re.compile(
        r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d| (?:UTC|GMT|CES?T|EES?T|[ECMP][SD]T))?(?=\s|$|\])"
    ),  # ISO 8601 / RFC 3339, or PostgreSQL's `2026-03-03 10:00:01.123 UTC`
    re.compile(
        r"^[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Z]{2,5})?"
    ),  # journalctl -o short-full: `Tue 2026-03-03 10:01:05 UTC`
    re.compile(r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"),  # syslog / journal short
    re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"),  # nginx error log, Go's log package
    re.compile(r"^\[\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]"),  # common log format
    re.compile(
        r"^\[?[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4}\]?"
    ),  # apache / ctime
    re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+"),  # klog (kubelet, controllers)
    re.compile(r"^\d+:[A-Z] \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d+"),  # redis
    re.compile(r"^\[\d{4}-\d\d-\d\d[T ][\d:.,]+[^\]]*\]"),  # [2026-07-15 11:08:02,123]
    re.compile(r"^\d{10}(?:\.\d+)?\b"),  # epoch seconds
    re.compile(r"^\[\s*\d+\.\d+\]"),  # dmesg / journalctl -o short-monotonic: seconds since boot
    re.compile(r"^\d\d:\d\d:\d\d[.,]\d{3}(?= \[)"),  # logback's default `HH:mm:ss.SSS [thread] LEVEL`
]
_JOURNAL_PREFIX = re.compile(r"^(?:(?P<host>[\w.-]+) )?(?P<program>[\w.@/-]+)(?:\[(?P<pid>\d+)\])?: ")
_KLOG_SOURCE = re.compile(r"^\s*\d+ (?P<source>[\w.-]+:\d+)\] ")
_LINE_TIMESTAMP = re.compile(
    r"\"(?:time|ts|timestamp|@timestamp)\"\s*:\s*\"(?P<ts>[^\"]+)\"|\b(?:time|ts)=\"?(?P<ts2>[\dT:.Z+-]{10,})"
)


@dataclass(frozen=True)
class LogLine:
    raw: str
    """The line exactly as printed (evidence quotes this)."""
    timestamp: str | None
    program: str | None
    message: str
    """What is left once the frame, timestamp and `host program[pid]:` prefix are taken off."""
    indented: bool = False
    """The message starts with whitespace: a continuation (stack frame, wrapped field) of the line before."""


def unframe(line: str) -> str:
    """Without a `stdout:` / `stderr:` frame (some runners and recorders prefix every line)."""
    return _FRAME.sub("", line, count=1)


def read_line(raw: str) -> LogLine:
    text = unframe(raw).rstrip()
    prefix = _SOURCE_PREFIX.match(text)
    text = text[prefix.end() :] if prefix else text
    lead = len(text) - len(text.lstrip())
    text = text.lstrip()
    stamp = None
    for rx in _TIMESTAMPS:
        m = rx.match(text)
        if m:
            stamp = m.group(0).strip("[] ")
            text = text[m.end() :]
            text = text[1:] if text.startswith(" ") else text.lstrip(":")
            break
    program = None
    pm = _JOURNAL_PREFIX.match(text)
    km = _KLOG_SOURCE.match(text) if stamp and stamp[:1] in "IWEF" and stamp[1:2].isdigit() else None
    if km:  # klog: `E0303 10:01:05.123456       1 reflector.go:138] message`
        program = km.group("source")
        text = text[km.end() :]
    elif pm and stamp and (pm.group("pid") or pm.group("host")):
        program = pm.group("program").rsplit("/", 1)[-1]
        text = text[pm.end() :]
    indented = text[:1].isspace() or (stamp is None and lead > 0)
    if stamp is None:
        m = _LINE_TIMESTAMP.search(text)
        stamp = (m.group("ts") or m.group("ts2")) if m else None
    return LogLine(raw=raw.strip(), timestamp=stamp, program=program, message=text.strip(), indented=indented)


_SHAPE_RULES = [
    (re.compile(r"\"[^\"]{0,400}\"|'[^']{0,400}'"), '"…"'),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b[a-z0-9]+(?:-[a-z0-9]+)*-[a-z0-9]{8,10}-[a-z0-9]{5}\b"), "<pod>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def shape(message: str) -> str:
    """A message with its variable parts (numbers, ids, addresses, quoted values) replaced: one key per kind."""
    out = message[:300]
    for rx, repl in _SHAPE_RULES:
        out = rx.sub(repl, out)
    return out.strip()


_CUT_TAIL = re.compile(r"(?:\.\.\.|…|\[(?:output |body )?truncated[^\]]*\]|<truncated>)\s*$", re.IGNORECASE)


def looks_cut(text: str) -> bool:
    """Does this output end in the middle of something (a truncation mark, an unbalanced JSON line)?"""
    lines = [ln for ln in text.rstrip("\n").splitlines() if ln.strip()]
    if not lines:
        return False
    last = lines[-1].strip()
    if _CUT_TAIL.search(last):
        return True
    return last.startswith("{") and not last.endswith("}")


def gist(message: str, limit: int = 200) -> str:
    """A long message cut for a title. Go and the container runtimes wrap an error in its callers' contexts
    (`failed to create task: ...: exec: "x": executable file not found`), so the cause is at the end: keep the
    tail from a `: ` boundary; anything else keeps its head."""
    if len(message) <= limit:
        return message
    if message.count(": ") >= 3:
        tail = message[-limit:]
        cut = tail.find(": ")
        return "…" + (tail[cut + 2 :] if 0 <= cut < limit // 2 else tail)
    return message[:limit] + "…"
