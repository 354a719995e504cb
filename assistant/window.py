"""Keeping the prompt inside the model's context window.

Older tool outputs are elided first, then whole older exchanges; the system
prompt and the current turn always stay.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.model import Model, ModelError
from assistant.tokens import count_tokens
from assistant.transcript import FACTS

FALLBACK_CONTEXT = 8192
ELIDED = "[older tool output elided to fit the model's context window]"


_WINDOWS: dict[str, int] = {}
"""Input windows already known, by model: looked up in litellm once, or told by the model gateway."""


def remember_window(model: str, tokens: int) -> None:
    """Record `model`'s window (the server learns it from its model gateway, so it never imports litellm)."""
    _WINDOWS[model] = tokens


async def learn_window(model: Model, configured: int | None = None) -> None:
    """Before a turn: take the window from the model when it knows it better than this process can (the
    server's gateway child has litellm; the server does not)."""
    if configured or model.name in _WINDOWS:
        return
    try:
        tokens = await model.context_window()
    except ModelError:
        tokens = FALLBACK_CONTEXT
    if tokens:
        remember_window(model.name, tokens)


def context_limit(model: str, configured: int | None = None) -> int:
    """The model's input window: configured, else known, else litellm's model info, else a safe default."""
    if configured:
        return configured
    if model.startswith("firstline/"):
        return 32_768
    if model not in _WINDOWS:
        _WINDOWS[model] = _litellm_window(model)
    return _WINDOWS[model]


def _litellm_window(model: str) -> int:
    try:
        import litellm

        info = litellm.get_model_info(model)
        return int(info.get("max_input_tokens") or info.get("max_tokens") or FALLBACK_CONTEXT)
    except Exception:  # noqa: BLE001 - unknown to litellm: assume a small local model
        return FALLBACK_CONTEXT


def message_tokens(msg: dict[str, Any]) -> int:
    """Tokens a provider is sent for this message (Firstline's own facts on it are never sent)."""
    if FACTS in msg:
        msg = {k: v for k, v in msg.items() if k != FACTS}
    return count_tokens(json.dumps(msg, default=str)) + 4


def fit_messages(
    messages: list[dict[str, Any]],
    limit: int,
    tools_tokens: int = 0,
    keep_from: int | None = None,
    reserve: int = 1024,
) -> list[dict[str, Any]]:
    """Return messages whose total fits `limit - tools_tokens - reserve`.

    `keep_from` is the index where the current turn starts; those messages are never elided.
    """
    budget = limit - tools_tokens - reserve
    msgs = [dict(m) for m in messages]
    sizes = [message_tokens(m) for m in msgs]
    protected = keep_from if keep_from is not None else len(msgs) - 1
    if sum(sizes) <= budget:
        return msgs
    for i in range(1, protected):
        if msgs[i].get("role") == "tool" and msgs[i].get("content") != ELIDED:
            msgs[i]["content"] = ELIDED
            msgs[i].pop(FACTS, None)  # what the model is no longer shown, it no longer knows
            sizes[i] = message_tokens(msgs[i])
            if sum(sizes) <= budget:
                return msgs
    # Still too big: drop the oldest whole exchanges (from one user message to the next).
    while sum(sizes) > budget:
        users = [i for i in range(1, protected) if msgs[i].get("role") == "user"]
        if len(users) < 2:
            break
        start, end = users[0], users[1]
        del msgs[start:end], sizes[start:end]
        protected -= end - start
    # Last resort: elide the current turn's oldest outputs too (the newest always stays).
    for i in range(protected, len(msgs) - 1):
        if sum(sizes) <= budget:
            break
        if msgs[i].get("role") == "tool" and msgs[i].get("content") != ELIDED:
            msgs[i]["content"] = ELIDED
            msgs[i].pop(FACTS, None)  # what the model is no longer shown, it no longer knows
            sizes[i] = message_tokens(msgs[i])
    return msgs
