"""Token counting that never touches the network.

tiktoken downloads its BPE files on first use unless TIKTOKEN_CACHE_DIR points at
a copy; litellm ships cl100k_base/o200k_base in its package, so we point there
before tiktoken is first asked for an encoding.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

_ENCODING = "cl100k_base"


def _bundled_dir() -> str | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    return str(path) if path.is_dir() else None


@lru_cache(maxsize=1)
def encoding():
    """The cl100k_base encoding, loaded from litellm's bundled copy (no download)."""
    bundled = _bundled_dir()
    if bundled:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled)
    import tiktoken

    return tiktoken.get_encoding(_ENCODING)


def count_tokens(text: str | None) -> int:
    """Number of cl100k_base tokens in `text` (0 for empty/None)."""
    if not text:
        return 0
    return len(encoding().encode(text, disallowed_special=()))
