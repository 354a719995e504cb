"""`firstline record SESSION`: turn a stored session into an eval case a person finishes.

Everything the session observed is kept (user turns, every tool call with its exit
code, command and output, redacted once more on export); what the right answer is
can only come from a person, so expectations are left as TODO comments, except
`tools_called`, which is pre-filled from what the session actually called.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from assistant.events import Event, ToolCall, ToolResultEvent, TurnStarted, UserMessage, payloads
from evals.format import FORMAT, K8S_ONLY
from tools.catalog import TOOLS
from tools.redact import redact
from tools.targets.fleet import member_arg


def _inline(value: Any) -> str:
    """A one-line YAML scalar or flow collection that reads back as `value`."""
    text = yaml.safe_dump(
        value, default_flow_style=True, width=1_000_000, allow_unicode=True, sort_keys=False
    ).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _block(text: str, indent: int) -> str:
    """A literal block scalar (`|`) for multi-line text, verified to read back exactly; else quoted.

    `indent` is the column of the content; the key sits two columns to the left.
    """
    chomp = "-" if not text.endswith("\n") else ("+" if text.endswith("\n\n") else "")
    content = text.removesuffix("\n")
    first = next((line for line in content.split("\n") if line), "")
    lead = "2" if first[:1] in (" ", "\t") else ""
    pad = " " * indent
    body = "\n".join(pad + line if line else "" for line in content.split("\n"))
    candidate = f"|{lead}{chomp}\n{body}"
    probe = " " * max(indent - 2, 0) + "k: " + candidate + "\n"
    try:
        if yaml.safe_load(probe) == {"k": text}:
            return candidate
    except yaml.YAMLError:
        pass
    return _inline(text)


def scalar(value: Any, indent: int) -> str:
    """How a value is written after `key: ` at the given indent of its continuation lines."""
    if isinstance(value, str) and "\n" in value:
        return _block(value, indent)
    return _inline(value)


def _meta(session_meta: Any, key: str, default: Any = None) -> Any:
    if isinstance(session_meta, Mapping):
        return session_meta.get(key, default)
    return getattr(session_meta, key, default)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")
    return slug or "recorded-session"


def _pairs(events: list[Event]) -> list[tuple[ToolCall, ToolResultEvent]]:
    calls = {c.call_id: c for c in payloads(events, ToolCall)}
    return [(calls[r.call_id], r) for r in payloads(events, ToolResultEvent) if r.call_id in calls]


def _usable(call: ToolCall, result: ToolResultEvent) -> str | None:
    """Why this call is not recorded (None when it is): writes, cache hits, refusals and errors."""
    tool = TOOLS.get(call.tool)
    if tool is None:
        return "unknown tool"
    if tool.risk.value == "write":
        return "write tools are never replayed"
    if result.cached:
        return "repeat of an earlier call"
    if result.exit_code is None and not result.output:
        return f"no output: {result.error or 'error'}"
    return None


def _own_args(call: ToolCall, result: ToolResultEvent) -> dict[str, Any]:
    """The tool's own arguments: on a multi-host target the member (`host`) is recorded beside them."""
    if not result.host:
        return call.args
    key = member_arg(call.tool)
    return {k: v for k, v in call.args.items() if k != key}


def _tool_entry(call: ToolCall, result: ToolResultEvent) -> list[str]:
    lines = [f"  - tool: {call.tool}", f"    args: {_inline(_own_args(call, result))}"]
    if result.host:
        lines.append(f"    host: {_inline(result.host)}")
    lines.append(f"    exit_code: {_inline(result.exit_code)}")
    if result.command:
        lines.append(f"    command: {scalar(redact(result.command), 6)}")
    lines.append(f"    output: {scalar(redact(result.output), 6)}")
    if result.error:
        lines.append(f"    error: {scalar(redact(result.error), 6)}")
    return lines


def _tools_section(events: list[Event]) -> tuple[list[str], list[str]]:
    """The `tools:` lines and the names of tools the session called, in first-call order."""
    lines, seen, called, skipped = ["tools:"], set(), [], []
    for call, result in _pairs(events):
        called.append(call.tool)
        key = _inline([call.tool, call.args, result.host])
        why = _usable(call, result)
        if why is None and key in seen:
            why = "repeat of an earlier call"
        if why is not None:
            skipped.append(f"  #   {call.tool}({_inline(call.args)[1:-1]}): {why}")
            continue
        seen.add(key)
        lines += _tool_entry(call, result)
    if len(lines) == 1:
        lines[0] = "tools: []"
    if skipped:
        lines += ["  # Not recorded (a replay answers these with an error result):", *skipped]
    return lines, list(dict.fromkeys(called))


def _expect_section(called: list[str]) -> list[str]:
    return [
        "expect:",
        "  # TODO: regexes (case-insensitive); each must match the final answer or a finding, e.g.",
        '  #   root_cause: ["port 80|:80", "node|old-app"]',
        "  # Or, when nothing was actually wrong, remove root_cause and set `no_fault: true`.",
        "  root_cause: []",
        f"  tools_called: {_inline(called)}",
        "  # TODO: tools a good investigation must not request, e.g. [kill_process, restart_service]",
        "  tools_not_called: []",
        "  # TODO (optional): max_tool_calls: 8",
        "  # TODO (optional): summary: the reference diagnosis in a sentence or two, for --judge",
    ]


def session_to_case(events: list[Event], session_meta: Any) -> str:
    """The case YAML for a stored session (`session_meta`: a session row or a mapping with
    id, title, target, model). It loads only after a person fills in `expect.root_cause`."""
    sid, title = str(_meta(session_meta, "id", "") or ""), str(_meta(session_meta, "title", "") or "")
    target = str(_meta(session_meta, "target", "") or "") or next(
        (t.target for t in payloads(events, TurnStarted)), "replay"
    )
    turns = [m.text for m in payloads(events, UserMessage)]
    tool_lines, called = _tools_section(events)
    kind = "kubernetes" if any(t in K8S_ONLY for t in called) else "host"
    hosts = sorted({r.host for _, r in _pairs(events) if r.host})  # as groups list them: by name
    described = {"name": target, "kind": kind, **({"hosts": hosts} if hosts else {})}
    header = [
        (
            f"# Recorded by `firstline record` from session {sid or '(unknown)'} "
            f"(target {target}, model {_meta(session_meta, 'model', '?')})."
        ),
        "# Tool output was redacted again on export; still, read it before sharing this file.",
        "# Fill in the TODOs under `expect:`; the case does not load until root_cause or no_fault is set.",
        f"format: {FORMAT}",
        f"id: {_slug(title or sid)}",
        f"title: {scalar(title or f'recorded session {sid}', 2)}",
        "tags: []  # TODO: e.g. [host, network]",
        f"target: {_inline(described)}",
        "turns:",
    ]
    header += [f"  - {scalar(redact(t), 4)}" for t in turns] or ['  - "TODO: the user\'s first message"']
    return "\n".join(header + tool_lines + _expect_section(called)) + "\n"


def record_session(settings: Any, session_id: str) -> str:
    """`firstline record`: read a session from the store; LookupError when it does not exist."""
    from assistant.store import NotFound, get_session, list_events, open_store, reading

    engine = open_store(settings.db_url)
    try:
        with reading(engine) as db:
            try:
                row = get_session(db, session_id=session_id)
            except NotFound:
                raise LookupError(f"no session {session_id!r} in {settings.db_url}") from None
            meta = {"id": row.id, "title": row.title, "target": row.target, "model": row.model}
            events = list_events(db, session_id=session_id)
    finally:
        engine.dispose()
    return session_to_case(events, meta)
