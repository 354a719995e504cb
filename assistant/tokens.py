"""Token counting that never touches the network.

tiktoken downloads its encoding files unless TIKTOKEN_CACHE_DIR points at a
directory that has them. litellm ships cl100k_base and o200k_base (named by the
sha1 of their download URL, as tiktoken's cache expects), so we point tiktoken
there before the first use.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
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


MEMO_MAX = 65_536
"""Counts remembered by a 16-byte digest of the text (about 8 MB when full, then forgotten at once). Every
model step of every session re-counts the same messages and tool schemas while fitting the window; with 100
sessions an LRU of texts thrashed and tiktoken ran on the event loop for 100+ ms at a time."""
_memo: dict[bytes, int] = {}
_memo_lock = threading.Lock()


def count_tokens(text: str | None) -> int:
    if not text:
        return 0
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    count = _memo.get(key)
    if count is None:
        count = len(encoding().encode(text, disallowed_special=()))
        with _memo_lock:
            if len(_memo) >= MEMO_MAX:
                _memo.clear()
            _memo[key] = count
    return count


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
