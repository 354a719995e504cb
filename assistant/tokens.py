"""Token counting that never touches the network.

tiktoken downloads its encoding files unless TIKTOKEN_CACHE_DIR points at a
directory that has them. litellm ships cl100k_base and o200k_base (named by the
sha1 of their download URL, as tiktoken's cache expects), so we point tiktoken
there before the first use.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _litellm_tokenizer_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        raise RuntimeError("litellm is not installed; it ships the tokenizer files Firstline uses offline")
    return Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"


@functools.cache
def encoding():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_litellm_tokenizer_dir()))
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


CACHED_MAX_CHARS = 16_000
"""Texts up to this size are memoised (1024 of them, <= ~16 MB): every model step re-counts the same
messages and tool schemas while fitting the window."""


def count_tokens(text: str | None) -> int:
    if not text:
        return 0
    if len(text) <= CACHED_MAX_CHARS:
        return _count_cached(text)
    return len(encoding().encode(text, disallowed_special=()))


@functools.lru_cache(maxsize=1024)
def _count_cached(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def fit_tokens(text: str, budget: int) -> tuple[str, bool]:
    """Cut `text` to at most `budget` tokens, keeping head and tail with a marker between."""
    enc = encoding()
    chars = budget * 12  # no token is longer than this on average: pre-cut huge text before encoding it
    if len(text) > 2 * chars:
        text = text[:chars] + "\n" + text[-chars:]
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= budget:
        return text, False
    marker = f"\n… [{len(ids) - budget} tokens cut; head and tail kept] …\n"
    room = max(budget - len(enc.encode(marker)), 2)
    head = room * 2 // 3
    tail = room - head
    return enc.decode(ids[:head]) + marker + enc.decode(ids[-tail:]), True
