"""What the runbook model knows: only the messages and tool schemas any provider would get.

The loop's system and tool messages carry the facts they were rendered from (assistant/transcript.py):
the target, and each tool run's command, exit code, error and output. We read those (or, for messages
that came without them, read the rendered text back) and re-run the findings analyzers on the output
alone, so the model reasons from evidence it saw.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from assistant.events import Finding
from assistant.findings import analyze_text
from assistant.transcript import TargetFacts, read_system, read_tool

_SOURCE_ERROR = re.compile(
    r"^(?:tail|cat|head|grep|zcat|less|journalctl|ls|sudo|kubectl): |^Error from server \(NotFound\)|"
    r"^-- No entries --$|^No journal files were found|^error: (?:container|pod) "
)
"""A reading tool's complaint about its own input (no such file, no such pod): the check could not look."""


@dataclass
class CallRecord:
    """One tool call the model asked for and, when it came back, what it showed."""

    id: str
    name: str
    args: dict[str, Any]
    turn: int
    step: int
    content: str | None = None
    output: str = ""
    command: str = ""
    exit_code: int | None = None
    error: str | None = None
    truncated: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.content is not None

    @property
    def failed(self) -> bool:
        """The call did not run (refused, invalid, unsupported, denied), or it ran but could not read its source
        (a log that does not exist): a gap in what was seen, never evidence about the system."""
        return (self.error is not None and self.exit_code is None) or self.unreadable_source

    @property
    def unreadable_source(self) -> bool:
        return (
            self.exit_code not in (0, None)
            and bool(_SOURCE_ERROR.match(self.output.strip()))
            and len(self.output.strip().splitlines()) <= 3
        )


@dataclass
class Conversation:
    target_name: str = ""
    target_kind: str = ""
    hosts: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    environment: str = ""
    users: list[str] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Offered tool name -> its function schema ({name, description, parameters})."""
    steps_this_turn: int = 0

    @property
    def turn(self) -> int:
        return len(self.users)

    @property
    def request(self) -> str:
        return self.users[-1] if self.users else ""

    def this_turn(self) -> list[CallRecord]:
        return [c for c in self.calls if c.turn == self.turn]

    def findings_before_writes(self, write_names: set[str]) -> list[Finding]:
        """Findings from before the first write of this turn: what a fix plan may be based on."""
        out = []
        for c in self.calls:
            if c.turn == self.turn and c.name in write_names:
                break
            out.extend(c.findings)
        return out

    def findings(self, this_turn_only: bool = False) -> list[Finding]:
        calls = self.this_turn() if this_turn_only else self.calls
        return [f for c in calls for f in c.findings]


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _system(conv: Conversation, target: TargetFacts) -> None:
    conv.target_name, conv.target_kind = target.name, target.kind.lower()
    for key, value in target.fields.items():
        items = (
            [str(v) for v in value]
            if isinstance(value, list)
            else [v for v in re.split(r"[,\s]+", str(value)) if v]
        )
        if key == "hosts":
            conv.hosts = items
        elif key == "namespaces":
            conv.namespaces = items
        elif key == "environment":
            conv.environment = str(value).lower()


def _tool_call(conv: Conversation, tc: Any, step: int) -> None:
    tc = tc if isinstance(tc, dict) else tc.model_dump() if hasattr(tc, "model_dump") else {}
    fn = tc.get("function") or {}
    conv.calls.append(
        CallRecord(
            id=str(tc.get("id") or ""),
            name=str(fn.get("name") or ""),
            args=_args(fn.get("arguments")),
            turn=conv.turn,
            step=step,
        )
    )


def parse(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Conversation:
    """Read the conversation and the offered tools; analyze every tool result in order."""
    conv = Conversation()
    for t in tools or []:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        if fn.get("name"):
            conv.tools[fn["name"]] = fn
    by_id: dict[str, CallRecord] = {}
    step = 0
    for msg in messages:
        msg = msg if isinstance(msg, dict) else dict(msg)
        role = msg.get("role")
        if role == "system":
            _system(conv, read_system(msg, _text(msg.get("content"))))
        elif role == "user":
            conv.users.append(_text(msg.get("content")))
            step = 0
        elif role == "assistant" and msg.get("tool_calls"):
            step += 1
            for tc in msg["tool_calls"]:
                _tool_call(conv, tc, step)
                by_id[conv.calls[-1].id] = conv.calls[-1]
        elif role == "tool" and msg.get("tool_call_id") in by_id:
            record = by_id[msg["tool_call_id"]]
            record.content = _text(msg.get("content"))
            facts = read_tool(msg, record.content)
            record.command, record.output, record.exit_code, record.error = (
                facts.command,
                facts.output,
                facts.exit_code,
                facts.error,
            )
            record.truncated = facts.truncated
    conv.steps_this_turn = step
    _analyze(conv)
    return conv


_SEEN: OrderedDict[bytes, list[Finding]] = OrderedDict()
_SEEN_MAX = 4096


def _analyze(conv: Conversation) -> None:
    """Findings of every answered call. Every step re-reads the whole conversation, so each call's findings
    are remembered under a digest of it and of every call before it (they are its `prior`): a step analyses
    only what is new (measured: 2/3 of all analysis in an eval suite was repeated work)."""
    prior: list[Finding] = []
    chain = hashlib.blake2b(digest_size=16)
    for c in conv.calls:
        if not c.answered:
            continue
        text = c.output if c.output.strip() else (c.error or "")
        if c.failed and (not c.output.strip() or c.unreadable_source):
            continue  # a refusal, a validation error or a missing log is not evidence about the system
        chain.update(json.dumps([c.name, text, c.id, c.command, c.args, c.exit_code], default=str).encode())
        key = chain.digest()
        found = _SEEN.get(key)
        if found is None:
            found = analyze_text(
                c.name, text, call_id=c.id, command=c.command, args=c.args, exit_code=c.exit_code, prior=prior
            )
            _SEEN[key] = found
            if len(_SEEN) > _SEEN_MAX:
                _SEEN.popitem(last=False)
        c.findings = list(found)
        prior.extend(found)
    from assistant.runbook.crosscheck import hosts_override

    for call, finding in hosts_override(conv):  # what two outputs show together
        call.findings.append(finding)
