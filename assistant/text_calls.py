"""Tool calls that a model wrote in its reply text instead of as native tool calls.

Small local models (served by Ollama or llama.cpp without a tool-call template) often answer with the call
as JSON: a fenced block, a `<tool_call>` tag, or a bare object such as
`{"name": "port_owner", "arguments": {"port": 80}}`. The loop turns those into ordinary tool calls, marked
`from_text`, which are then validated, gated and run exactly like native ones. Only objects naming one of
the offered tools count, so prose that merely contains JSON stays prose.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from assistant.model import ToolCallRequest

MAX_TEXT = 20_000
"""Longer replies are not scanned: a call is short, and decoding at every brace is linear per attempt."""
MAX_ATTEMPTS = 200
_NAME_KEYS = ("name", "tool", "tool_name", "function")
_ARG_KEYS = ("arguments", "args", "parameters", "input")


def calls_in_text(text: str, tool_names: set[str]) -> list[ToolCallRequest]:
    """Every JSON object in `text` that names an offered tool, in order, as a tool call request."""
    calls: list[ToolCallRequest] = []
    for obj in _json_objects(text[:MAX_TEXT]):
        for item in obj if isinstance(obj, list) else [obj]:
            call = _as_call(item, tool_names)
            if call is not None:
                name, args = call
                digest = hashlib.sha1(f"{len(calls)}:{name}:{args}".encode()).hexdigest()[:16]
                calls.append(ToolCallRequest(id=f"text_{digest}", name=name, arguments=args, from_text=True))
    return calls


def _json_objects(text: str) -> list[Any]:
    decoder, found, pos, attempts = json.JSONDecoder(), [], 0, 0
    while attempts < MAX_ATTEMPTS:
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        attempts += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pos = start + 1
            continue
        found.append(obj)
        pos = end
    return found


def _as_call(item: Any, tool_names: set[str]) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI's own shape, written out as text
        item = item["function"]
    name = next((item[k] for k in _NAME_KEYS if isinstance(item.get(k), str)), None)
    if name not in tool_names:
        return None
    args = next((item[k] for k in _ARG_KEYS if k in item), {})
    if isinstance(args, str):
        return name, args  # already JSON text (or not: the loop rejects it with a clear message)
    return name, json.dumps(args if args is not None else {})
