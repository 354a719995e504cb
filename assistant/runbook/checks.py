"""Candidate tool calls and the rules every one must pass before the model asks for it.

Only tools that were offered, arguments that satisfy the offered schema, never a call
already made this turn, never a tool the target said it does not have, and never a
write tool unless the engineer asked for that fix.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from assistant.runbook.conversation import Conversation
from tools.catalog import WRITE_TOOLS

_GONE = ("unknown tool", "is not available on target", "not available on this target")


@dataclass
class Check:
    name: str
    args: dict[str, Any]
    reason: str = ""
    group: str = ""
    """Checks of one group answer one question; a step asks one group at a time."""
    extra: dict[str, Any] = field(default_factory=dict)


def is_write(conv: Conversation, name: str) -> bool:
    desc = str(conv.tools.get(name, {}).get("description", "")).lower()
    return name in WRITE_TOOLS or "needs approval" in desc


def normalize(conv: Conversation, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments with None dropped and the schema's defaults filled, so equal calls compare equal."""
    props = (conv.tools.get(name, {}).get("parameters") or {}).get("properties") or {}
    out = {k: v for k, v in args.items() if v is not None}
    for key, spec in props.items():
        if key not in out and isinstance(spec, dict) and "default" in spec and spec["default"] is not None:
            out[key] = spec["default"]
    if (
        name == "pod_logs"
        and out.get("container")
        and _only_container(conv, str(out.get("pod"))) == out["container"]
    ):
        del out["container"]  # the pod's one container: its logs are the same with or without the name
    return out


def _only_container(conv: Conversation, pod: str) -> str | None:
    """The one (non-init) container of a pod the conversation described, if it has only one."""
    for c in conv.calls:
        if c.name == "pod_describe" and c.args.get("pod") == pod and c.answered and not c.failed:
            names = _containers(c.output)
            return names[0] if len(names) == 1 else None
    return None


@functools.lru_cache(maxsize=64)
def _containers(describe: str) -> tuple[str, ...]:
    from assistant.findings.k8s_text import parse_describe

    pod = parse_describe(describe)
    return tuple(c.name for c in pod.containers if not c.init) if pod else ()


def key(conv: Conversation, name: str, args: dict[str, Any]) -> str:
    return name + json.dumps(normalize(conv, name, args), sort_keys=True, default=str)


def valid(conv: Conversation, name: str, args: dict[str, Any]) -> bool:
    schema = conv.tools.get(name, {}).get("parameters") or {"type": "object"}
    validator = _validator(json.dumps(schema, sort_keys=True))
    return validator is not None and validator.is_valid({k: v for k, v in args.items() if v is not None})


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    """One checked validator per offered schema (jsonschema.validate re-checks the schema on every call);
    None when the schema itself is invalid."""
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return cls(schema)


def unavailable(conv: Conversation) -> set[str]:
    """Tools the target or the loop said cannot run here (asking again would only fail again)."""
    return {c.name for c in conv.calls if c.error and any(g in c.error for g in _GONE)}


RECHECK = re.compile(
    r"\b(?:is it|is that|is this|are they|are we|did it|does it)\b[^?]*\b(?:fixed|ok|okay|fine|working|"
    r"healthy|resolved|back|stable|good)\b|\bstill\b|\bagain\b|\bre-?check\b|\bre-?run\b|\blook again\b|"
    r"\bnow\b[^?]*\?",
    re.IGNORECASE,
)
"""A later message that asks to look again (after a fix, or because it is happening again)."""


def done(conv: Conversation) -> set[str]:
    """Checks not to ask again: this turn's, and earlier turns' unless the engineer asks to look again or
    something was changed since (their answers are still in the conversation)."""
    out = {key(conv, c.name, c.args) for c in conv.this_turn()}
    if conv.turn < 2:
        return out
    last_write = max((i for i, c in enumerate(conv.calls) if is_write(conv, c.name)), default=-1)
    recheck = bool(RECHECK.search(conv.request))
    return out | {
        key(conv, c.name, c.args)
        for i, c in enumerate(conv.calls)
        if c.turn < conv.turn
        and c.answered
        and i > last_write
        and (not recheck or c.failed or _showed_nothing(c))  # looking again cannot make a missing unit or
    }  # log appear, nor a log that said nothing seconds ago say more


STEADY_ON_RECHECK = {"pod_logs", "node_status"}
"""Reads that, asked again seconds later, repeat themselves (a pod's log, the nodes' conditions): a second look
re-runs what can change (the listing, the events, the unhealthy pod's describe), not these when they showed
nothing."""


def _showed_nothing(c: Any) -> bool:
    return c.name in STEADY_ON_RECHECK and not c.findings


def admissible(conv: Conversation, checks: list[Check], allow_writes: bool = False) -> list[Check]:
    """Keep the checks the model may ask for now, first occurrence wins."""
    seen = done(conv)
    gone = unavailable(conv)
    out = []
    for c in checks:
        args = {k: v for k, v in c.args.items() if v is not None}
        k = key(conv, c.name, args)
        if c.name not in conv.tools or c.name in gone or k in seen:
            continue
        if is_write(conv, c.name) and not allow_writes:
            continue
        if not valid(conv, c.name, args):
            continue
        seen.add(k)
        out.append(Check(c.name, args, c.reason, c.group, c.extra))
    return out
