"""Masking secrets before anyone stores, shows, exports or sends text (tool output, user messages).

Each rule (tools/redact_rules.py) finds one kind of secret and masks only the secret part,
keeping the shape (`password=[REDACTED]`, `postgres://app:[REDACTED]@db`, `ghp_[REDACTED]`)
so an engineer still sees what was there. Rules are anchored on key names and token
formats, never on "looks random": git SHAs, digests, UUIDs and pod names stay intact.

Speed: a multi-megabyte log must not stall a turn. Every rule names the literal strings
a match can start at (its anchors); we find those with str.find on an ASCII-lowercased
copy and try the regex only there, instead of letting `re` probe every position. Each
rule's work is linear in the text (bench/redaction_worst_case.py tries each one's worst
input), and a call has a time budget all the same: past it, the output degrades to whole
lines withheld (every line holding any rule's anchor) rather than to a secret shown or a
server stalled. A deployment's own patterns run on RE2 (linear whatever the pattern).
Callers in the server run this off the event loop (tools/offcore.py: a worker thread, or a worker
process for megabytes). `redact` is idempotent and never raises.
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import re2

from tools.redact_k8s import mask_k8s_secrets
from tools.redact_rules import MASK, RULES, Rule

__all__ = ["BUDGET_S", "MASK", "RULES", "WITHHELD", "Masker", "compile_patterns", "redact"]

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
BUDGET_S = 10.0
"""Seconds one call may spend on the built-in rules before it degrades to withholding whole lines."""
WITHHELD = "[REDACTED: line withheld, secret masking ran out of time]"
MAX_BACK = 64
"""A URL scheme or a flag's dashes before an anchor are never longer than this."""
_CHECK_EVERY = 64
ANCHORS = tuple(sorted({a for rule in RULES for a in rule.anchors} | {"secret"}))


class _OverBudget(Exception):
    """The time budget ran out; the caller degrades."""


class _Found:
    """A match made on the lowercased copy, answering with the original text's characters."""

    __slots__ = ("m", "string")

    def __init__(self, m: re.Match[str], text: str) -> None:
        self.m, self.string = m, text

    def group(self, name: str | int = 0) -> str | None:
        start, end = self.m.span(name)
        return None if start < 0 else self.string[start:end]

    def start(self, name: str | int = 0) -> int:
        return self.m.start(name)

    def end(self, name: str | int = 0) -> int:
        return self.m.end(name)


def _lower(text: str) -> str:
    """ASCII-lowercased, same length (str.lower is 20x faster but may change the length of non-ASCII text)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _positions(low: str, rule: Rule) -> list[int]:
    found: list[int] = []
    for anchor in rule.anchors:
        i = low.find(anchor)
        while i >= 0:
            start = i
            if rule.back:  # walk back over a scheme or a flag's dashes (str.rstrip: C speed, bounded)
                before = low[max(0, i - MAX_BACK) : i]
                start = i - (len(before) - len(before.rstrip(rule.back)))
            found.append(start)
            while start < i and not low[start].isalpha():  # a URL scheme starts with a letter
                start += 1
            found.append(start)
            i = low.find(anchor, i + 1)
    found.sort()  # runs already in order: timsort merges them in linear time
    return found


def _apply(rule: Rule, text: str, low: str, deadline: float) -> str:
    hay = low if rule.ci else text
    out: list[str] = []
    last = skip = 0
    tried = -1
    for n, pos in enumerate(_positions(low, rule)):
        if n % _CHECK_EVERY == 0 and time.monotonic() > deadline:
            raise _OverBudget(rule.name)
        if pos < last or pos < skip or pos == tried:
            continue
        tried = pos
        m = rule.pattern.match(hay, pos)
        if m is None and rule.line_head is not None and rule.line_head.match(hay, pos):
            eol = low.find("\n", pos)
            skip = len(low) if eol < 0 else eol  # every later anchor of this line fails the same way
            continue
        if m is None or m.end() == m.start():
            continue
        replacement = rule.repl(_Found(m, text))
        if replacement == text[m.start() : m.end()]:
            if rule.lookalike_covers:
                skip = m.end()
            continue  # a look-alike (a placeholder, prose): leave it, later anchors inside may still match
        out.append(text[last : m.start()])
        out.append(replacement)
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _extra(pattern: Any, text: str) -> str:
    """A configured pattern (RE2): masks its `secret` group when it has one, else the whole match."""
    group = pattern.groupindex.get("secret")
    if group is None:
        return pattern.sub(lambda _m: MASK, text)

    def one(m: Any) -> str:
        start, end = m.span(group)
        if start < 0:
            return m.group(0)
        return text[m.start() : start] + MASK + text[end : m.end()]

    return pattern.sub(one, text)


def _rules(text: str, deadline: float) -> str:
    low = _lower(text)
    if "secret" in low:
        masked = mask_k8s_secrets(text, MASK)
        if masked != text:
            text, low = masked, _lower(masked)
    for rule in RULES:
        if time.monotonic() > deadline:
            raise _OverBudget(rule.name)
        new = _apply(rule, text, low, deadline)
        if new is not text:
            text, low = new, _lower(new)
    return text


def withhold_lines(text: str) -> str:
    """The degraded answer: every line that holds any rule's anchor replaced whole (linear, no regex)."""
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        low = line.translate(_ASCII_LOWER)
        if any(a in low for a in ANCHORS):
            out.append(WITHHELD + line[len(line.rstrip("\r\n")) :])
        else:
            out.append(line)
    return "".join(out)


def redact(text: str, extra: Iterable[Any] | None = None, *, budget_s: float = BUDGET_S) -> str:
    """`text` with every secret we recognise (and every match of `extra`) masked; past `budget_s`, every
    line that might hold one withheld instead."""
    if not text:
        return text
    try:
        text = _rules(text, time.monotonic() + budget_s)
    except _OverBudget:
        text = withhold_lines(text)
    for pattern in extra or ():
        text = _extra(pattern, text)
    return text


def compile_patterns(patterns: Iterable[str]) -> list[Any]:
    """Configured extra patterns, compiled with RE2 (linear time on any input, so a hostile log cannot
    stall masking); ValueError names the first one that is not valid RE2 syntax."""
    options = re2.Options()
    options.log_errors = False
    out = []
    for p in patterns:
        try:
            out.append(re2.compile(p, options))
        except re2.error as exc:
            reason = (
                exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            )
            raise ValueError(
                f"invalid redact pattern {p!r} (RE2 syntax: no backreferences or lookaround): {reason}"
            ) from None
    return out


@functools.lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> list[Any]:
    return compile_patterns(patterns)


@dataclass(frozen=True)
class Masker:
    """`redact` with a deployment's own patterns. Plain data (the pattern strings, compiled once per
    process on first use), so it can be sent to a worker process with the text it masks."""

    patterns: tuple[str, ...]

    def __call__(self, text: str) -> str:
        return redact(text, _compiled(self.patterns))
