"""Masking secrets before anyone stores, shows, exports or sends text (tool output, user messages).

Each rule (tools/redact_rules.py) finds one kind of secret and masks only the secret part,
keeping the shape (`password=[REDACTED]`, `postgres://app:[REDACTED]@db`, `ghp_[REDACTED]`)
so an engineer still sees what was there. Rules are anchored on key names and token
formats, never on "looks random": git SHAs, digests, UUIDs and pod names stay intact.

Speed: a multi-megabyte log must not stall a turn. Every rule names the literal strings
a match can start at (its anchors); we find those with str.find on an ASCII-lowercased
copy and try the regex only there, instead of letting `re` probe every position.
`redact` is idempotent and never raises.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from tools.redact_k8s import mask_k8s_secrets
from tools.redact_rules import MASK, RULES, Rule

__all__ = ["MASK", "RULES", "compile_patterns", "redact"]

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


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


def _positions(low: str, rule: Rule) -> list[int]:
    found: set[int] = set()
    for anchor in rule.anchors:
        i = low.find(anchor)
        while i >= 0:
            start = i
            while rule.back and start > 0 and low[start - 1] in rule.back:
                start -= 1
            found.add(start)
            while start < i and not low[start].isalpha():  # a URL scheme starts with a letter
                start += 1
            found.add(start)
            i = low.find(anchor, i + 1)
    return sorted(found)


def _apply(rule: Rule, text: str, low: str) -> str:
    hay = low if rule.ci else text
    out: list[str] = []
    last = 0
    for pos in _positions(low, rule):
        if pos < last:
            continue
        m = rule.pattern.match(hay, pos)
        if m is None or m.end() == m.start():
            continue
        replacement = rule.repl(_Found(m, text))
        if replacement == text[m.start() : m.end()]:
            continue  # a look-alike (a placeholder, prose): leave it, later anchors inside may still match
        out.append(text[last : m.start()])
        out.append(replacement)
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _extra(pattern: re.Pattern[str], text: str) -> str:
    """A configured pattern: masks its `secret` group when it has one, else the whole match."""
    if "secret" not in pattern.groupindex:
        return pattern.sub(MASK, text)

    def one(m: re.Match[str]) -> str:
        if m.group("secret") is None:
            return m.group(0)
        start, end = m.span("secret")
        return m.string[m.start() : start] + MASK + m.string[end : m.end()]

    return pattern.sub(one, text)


def redact(text: str, extra: Iterable[re.Pattern[str]] | None = None) -> str:
    """`text` with every secret we recognise (and every match of `extra`) masked."""
    if not text:
        return text
    low = text.translate(_ASCII_LOWER)
    if "secret" in low:
        masked = mask_k8s_secrets(text, MASK)
        if masked != text:
            text, low = masked, masked.translate(_ASCII_LOWER)
    for rule in RULES:
        new = _apply(rule, text, low)
        if new is not text:
            text, low = new, new.translate(_ASCII_LOWER)
    for pattern in extra or ():
        text = _extra(pattern, text)
    return text


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """Configured extra patterns; ValueError names the first one that is not a valid regex."""
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise ValueError(f"invalid redact pattern {p!r}: {exc}") from None
    return out
