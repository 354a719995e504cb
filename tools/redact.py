"""Masking secrets in tool output before anyone stores, shows or sends it.

Extended by issue 7 (full corpus); the runner applies it to every tool result.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # scheme://user:password@host
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)(?P<secret>[^\s@/]+)(?=@)"), r"\g<pre>" + MASK),
    # password=..., passwd: ..., secret=..., token: ...
    (re.compile(r"(?i)(?P<pre>\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret)\b\s*[=:]\s*[\"']?)(?P<secret>[^\s\"',;&]+)"), r"\g<pre>" + MASK),
    # Authorization: Bearer xxx / Basic xxx
    (re.compile(r"(?i)(?P<pre>\b(?:bearer|basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})"), r"\g<pre>" + MASK),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    # PEM private keys
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), MASK),
    # JWTs
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), MASK),
    # GitHub, Slack, OpenAI-style tokens
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-(?:proj-)?[A-Za-z0-9_-]{20,})\b"), MASK),
]


def redact(text: str, extra: list[re.Pattern[str]] | None = None) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    for pattern in extra or ():
        text = pattern.sub(MASK, text)
    return text
