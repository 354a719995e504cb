"""The conversation as the loop builds it: rendered text for every model, and the same facts kept typed.

Every system and tool message carries, next to the text rendered from prompts/*.j2, the values it
was rendered from under `FACTS` (the target's description; the tool run's command, exit code,
status, error and output). The offline model reads those instead of parsing the text back; hosted
models get the messages without them (`for_provider`). `read_tool`/`read_system` also read plain
text, for callers that bring their own messages: tests/test_transcript.py proves text and facts agree
for every shape the templates render.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

FACTS = "x_firstline"
"""Key of the structured facts on a message; never sent to a provider."""


@dataclass
class ToolFacts:
    command: str = ""
    output: str = ""
    """The output exactly as the model was shown it (after the token budget)."""
    exit_code: int | None = None
    error: str | None = None
    status: str = "ok"
    truncated: bool = False
    cached: bool = False


@dataclass
class TargetFacts:
    name: str = ""
    kind: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    """Everything else the target describes (hosts, namespaces, environment...)."""


def tool_message(call_id: str, content: str, facts: ToolFacts) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content, FACTS: asdict(facts)}


def system_message(content: str, target: dict[str, Any]) -> dict[str, Any]:
    facts = TargetFacts(
        str(target.get("name", "")),
        str(target.get("kind", "")),
        {k: v for k, v in target.items() if k not in ("name", "kind")},
    )
    return {"role": "system", "content": content, FACTS: asdict(facts)}


def for_provider(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as a provider accepts them: without Firstline's facts."""
    return [{k: v for k, v in m.items() if k != FACTS} if FACTS in m else m for m in messages]


# ------------------------------------------------------------------ reading


def read_tool(msg: dict[str, Any], content: str) -> ToolFacts:
    """A tool message's facts: the structured ones when the loop attached them, else read from its text."""
    facts = msg.get(FACTS)
    if isinstance(facts, dict):
        return ToolFacts(**{k: v for k, v in facts.items() if k in ToolFacts.__dataclass_fields__})
    return parse_tool_text(content)


def read_system(msg: dict[str, Any], content: str) -> TargetFacts:
    facts = msg.get(FACTS)
    if isinstance(facts, dict):
        return TargetFacts(**{k: v for k, v in facts.items() if k in TargetFacts.__dataclass_fields__})
    return parse_system_text(content)


_HEADER = re.compile(
    r"^\$ (?P<command>.*?)\s+\((?:exit (?P<exit>-?\d+|None)(?P<err>, error)?|"
    r"(?P<status>error|refused|timeout|unsupported|needs approval|no data))\)(?P<flags>.*)$"
)


def parse_tool_text(content: str) -> ToolFacts:
    """The inverse of prompts/tool_result.j2 (for messages that came without facts); plain text passes through."""
    lines = content.splitlines()
    m = _HEADER.match(lines[0]) if lines else None
    if not m:
        return ToolFacts(output=content)
    exit_code = int(m.group("exit")) if m.group("exit") not in (None, "None") else None
    status = m.group("status") or ("error" if m.group("err") else "ok")
    body = lines[1:]
    error = None
    if body and body[0].startswith("ERROR: "):
        error, body = body[0][len("ERROR: ") :].strip(), body[1:]
    while body and (body[-1].startswith("# finding ") or not body[-1].strip()):
        body = body[:-1]
    if status == "no data" and body == ["(no output)"]:
        body = []
    if status not in ("ok", "no data") and exit_code is None and error is None:
        error = "\n".join(body).strip() or "the tool did not run"
    return ToolFacts(
        command=m.group("command").strip(),
        output="\n".join(body),
        exit_code=exit_code,
        error=error,
        status=status.replace(" ", "_"),
        truncated="[output truncated]" in m.group("flags"),
        cached="[same call earlier this turn]" in m.group("flags"),
    )


_TARGET = re.compile(r"^Target:\s*(?P<name>\S+)\s*\((?P<kind>[\w-]+)\)", re.MULTILINE)
_FIELD = re.compile(r"^(?P<key>[A-Z][\w ]*):\s*(?P<value>.+)$", re.MULTILINE)


def parse_system_text(content: str) -> TargetFacts:
    """The target block of prompts/system.md.j2 read back (Target: name (kind), then `Key: value` lines)."""
    m = _TARGET.search(content)
    if not m:
        return TargetFacts()
    fields: dict[str, Any] = {}
    for fm in _FIELD.finditer(content[m.end() :].split("\n\n", 1)[0]):
        key, value = fm.group("key").strip().lower(), fm.group("value").strip()
        if key in ("time (utc)",):
            break
        fields[key] = (
            [v for v in re.split(r",\s*", value) if v]
            if "," in value or key in ("hosts", "namespaces")
            else value
        )
    return TargetFacts(m.group("name"), m.group("kind").lower(), fields)
