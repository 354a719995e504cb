"""The runbook over several hosts: the same reasoning per host, asked of every host at once.

When the offered host tools take a `host` (a node group, a fleet sandbox), the conversation
is split per host (that host's calls, with `host` taken off, and the tools without it), the
ordinary planner decides for each, and the decisions are merged: the opening checks go to
every host in one step (the loop runs them concurrently), after which only the hosts that
showed a problem are followed up. The answer names the hosts with a problem first, each
with its own diagnosis, then the hosts where nothing was found.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

from assistant.runbook.checks import Check
from assistant.runbook.conversation import CallRecord, Conversation

MEMBER_ARGS = ("host", "from_host")
_WRITE_CALL = re.compile(r"`(restart_service|kill_process)\(([^`]*)\)`")


def fleet_hosts(conv: Conversation) -> list[str]:
    """The hosts the offered tools can run on (the enum of their `host` argument), or [] for one host."""
    for fn in conv.tools.values():
        props = (fn.get("parameters") or {}).get("properties") or {}
        for key in MEMBER_ARGS:
            enum = (props.get(key) or {}).get("enum")
            if enum:
                return [str(h) for h in enum]
    return []


def _member_key(fn: dict[str, Any]) -> str | None:
    props = (fn.get("parameters") or {}).get("properties") or {}
    return next((k for k in MEMBER_ARGS if (props.get(k) or {}).get("enum")), None)


def _tools_without_host(conv: Conversation) -> dict[str, dict[str, Any]]:
    out = {}
    for name, fn in conv.tools.items():
        key = _member_key(fn)
        if key is None:
            out[name] = fn
            continue
        fn = copy.deepcopy(fn)
        params = fn["parameters"]
        params["properties"].pop(key, None)
        params["required"] = [r for r in params.get("required", []) if r != key]
        out[name] = fn
    return out


def for_host(conv: Conversation, host: str) -> Conversation:
    """The conversation as the one host sees it: its calls only, and tools that need no `host`."""
    calls = []
    for c in conv.calls:
        key = _member_key(conv.tools.get(c.name, {})) or "host"
        if c.args.get(key) == host:
            calls.append(replace(c, args={k: v for k, v in c.args.items() if k != key}))
    return replace(conv, hosts=[host], calls=calls, tools=_tools_without_host(conv))


def on_host(conv: Conversation, host: str, checks: list[Check]) -> list[Check]:
    out = []
    for c in checks:
        key = _member_key(conv.tools.get(c.name, {})) or "host"
        out.append(Check(c.name, {**c.args, key: host}, c.reason, c.group, c.extra))
    return out


def named_hosts(conv: Conversation, hosts: list[str]) -> list[str]:
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9.-]*", conv.request))
    return [h for h in hosts if h in words]


def troubled(sub: Conversation) -> bool:
    return any(f.severity != "info" for f in sub.findings(this_turn_only=True)) or any(
        c.exit_code not in (0, None) or (c.error and not c.failed) for c in sub.this_turn()
    )


def checked(sub: Conversation) -> list[CallRecord]:
    return [c for c in sub.this_turn() if c.answered]


FIRST_STEP_PER_HOST = 3
"""Opening checks per host: the same few everywhere, so the hosts compare and the tool budget lasts."""


def decide_fleet(conv: Conversation, hosts: list[str]):
    """One decision for the whole fleet (see the module docstring)."""
    from assistant.runbook.entities import fix_requests
    from assistant.runbook.planner import Decision, decide

    subs = {h: for_host(conv, h) for h in hosts}
    scope = named_hosts(conv, hosts) or hosts
    fixing = any(fix_requests(conv.request))
    if fixing:  # "go ahead": where a problem was found, each host through its own fix plan
        scope = [h for h in scope if subs[h].findings()] or scope
    first = not conv.asked_this_turn()
    active = scope if first or fixing else [h for h in scope if troubled(subs[h])]
    decisions = {h: decide(subs[h]) for h in active}
    calls: list[Check] = []
    for h in active:
        mine = decisions[h].calls[:FIRST_STEP_PER_HOST] if first else decisions[h].calls
        calls += on_host(conv, h, mine)
    if calls:
        reasons = list(dict.fromkeys(c.reason for c in calls if c.reason))
        where = ", ".join(dict.fromkeys(str(c.args.get("host") or c.args.get("from_host")) for c in calls))
        text = f"On {where}: " + ("; ".join(reasons[:3]) or "next checks") + "."
        return Decision(text, calls)
    if fixing:
        return Decision("\n\n".join(f"### {h}\n{decisions[h].text}" for h in scope))
    return Decision(fleet_answer(scope, subs, decisions))


def fleet_answer(scope: list[str], subs: dict[str, Conversation], decisions: dict[str, Any]) -> str:
    from assistant.runbook.planner import decide
    from assistant.runbook.report import observed

    bad = [h for h in scope if troubled(subs[h])]
    good = [h for h in scope if h not in bad]
    if bad:
        parts = [f"**Hosts with a problem: {', '.join(bad)}** (I checked {len(scope)}: {', '.join(scope)})."]
    else:
        parts = [f"**No fault found on any of the {len(scope)} hosts I checked** ({', '.join(scope)})."]
    for h in bad:
        text = decisions[h].text if h in decisions and not decisions[h].calls else decide(subs[h]).text
        parts += ["", f"### {h}", _WRITE_CALL.sub(lambda m, h=h: f'`{m[1]}({m[2]}, host="{h}")`', text)]
    if good:
        parts += ["", f"### Fine: {', '.join(good)}"]
        for h in good:
            seen = [observed(c) for c in checked(subs[h])[:2]]
            parts.append(f"- **{h}**: " + ("; ".join(seen) if seen else "no check could run"))
    return "\n".join(parts)
