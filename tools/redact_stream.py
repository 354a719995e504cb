"""Masking text that arrives in pieces (a model's streamed reply) before any piece is stored or shown.

A secret can be split across deltas ("AKIA" + "IOSF…"), and most rules need the words before it
("password=", "Bearer "), so a piece is released only when masking it alone gives the same answer as
masking it in its line. Text is released up to the last whitespace before the line's first rule anchor
(no secret starts before its anchor); the rest of such a line is held until it ends, then masked; a private-key
block is held until its END line. With a deployment's own patterns (whose anchors are unknown) every
line is held until it ends. Whatever is released is masked, so the streamed text equals the masked
final message.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from tools.redact_rules import RULES

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
ANCHORS: tuple[str, ...] = tuple(sorted({a for rule in RULES for a in rule.anchors} | {"secret"}))
_PEM_BEGIN, _PEM_END = "-----begin ", "-----end "
_WHITESPACE = (" ", "\t")


class StreamMasker:
    """feed(delta) -> the masked text that may be released now; flush() -> the rest, masked."""

    def __init__(self, redactor: Callable[[str], str], *, whole_lines: bool = False) -> None:
        self.redactor, self.whole_lines = redactor, whole_lines
        self.pending = ""

    def feed(self, delta: str) -> str:
        self.pending += delta
        out: list[str] = []
        while self.pending:
            cut = self._releasable()
            if cut <= 0:
                break
            out.append(self.redactor(self.pending[:cut]))
            self.pending = self.pending[cut:]
        return "".join(out)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return self.redactor(rest) if rest else ""

    def _releasable(self) -> int:
        """How many characters of `pending` can be masked and released on their own (0: wait for more)."""
        low = self.pending.translate(_ASCII_LOWER)
        begin = low.find(_PEM_BEGIN)
        newline = low.find("\n")
        if begin >= 0 and (newline < 0 or begin < newline):
            end = low.find(_PEM_END, begin)
            end_line = low.find("\n", end) if end >= 0 else -1
            return end_line + 1 if end_line >= 0 else 0
        if newline >= 0:
            return newline + 1
        if self.whole_lines:
            return 0
        first = min((i for i in (low.find(a) for a in ANCHORS) if i >= 0), default=len(low))
        return max(low.rfind(w, 0, first) for w in _WHITESPACE) + 1  # a secret starts at or after its anchor
