"""The redactor a deployment uses: the built-in rules plus `Settings.redact_patterns`.

One place decides what "redacted" means for tool output (runner), the user's own words
(turns), exports and eval cases, so they can never disagree. Compiled once per pattern
set and cached; an invalid pattern is a configuration error (ValueError naming it),
never a silently weaker redactor.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from assistant.config import Settings
from tools.redact import Masker, compile_patterns, redact

Redactor = Callable[[str], str]


@functools.lru_cache(maxsize=32)
def _redactor(patterns: tuple[str, ...]) -> Redactor:
    if not patterns:
        return redact
    compile_patterns(patterns)  # an invalid pattern fails here, at configuration time
    return Masker(patterns)


def redactor_for(settings: Settings) -> Redactor:
    """`text -> text` with every built-in secret shape and every configured pattern masked."""
    return _redactor(tuple(settings.redact_patterns))


def redact_value(value: object, redactor: Redactor) -> object:
    """Every string inside a JSON-like value, redacted (tool arguments, export rows)."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, list):
        return [redact_value(v, redactor) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v, redactor) for k, v in value.items()}
    return value
