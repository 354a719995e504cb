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
from typing import Any

from assistant.events import Finding
from assistant.findings import analyze_text
from assistant.runbook.crosscheck import hosts_override
from assistant.runbook.records import PASTED, CallRecord, Conversation
from assistant.transcript import TargetFacts, read_system, read_tool

__all__ = ["CallRecord", "Conversation", "parse"]


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
            for c in reversed(conv.calls):  # a log pasted with this message is this turn's evidence
                if c.name != PASTED or c.turn != conv.turn - 1:
                    break
                c.turn = conv.turn
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
    for call, finding in hosts_override(conv):  # what two outputs show together
        call.findings.append(finding)
