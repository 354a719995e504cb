"""Rebuilding the model's message list from a session's stored events.

The event log is the single source of truth: a turn resumed on another process,
after a restart or in an eval's second turn sees the same conversation.
"""

from __future__ import annotations

import json
from typing import Any

from assistant import transcript
from assistant.events import (
    Event,
    Finding,
    Message,
    Token,
    ToolCall,
    ToolResultEvent,
    UserMessage,
    payloads,
)
from assistant.prompting import render
from assistant.tokens import fit_tokens
from tools.base import ToolResult


def tool_message_text(result: ToolResult, findings: list[Finding], budget: int, cached: bool = False) -> str:
    """What the model reads for one tool result: a command header, the budgeted output, findings."""
    return tool_result_message("", result, findings, budget, cached)["content"]


def tool_result_message(
    call_id: str, result: ToolResult, findings: list[Finding], budget: int, cached: bool = False
) -> dict[str, Any]:
    """The tool message: the text rendered for every model, and the facts it was rendered from."""
    output, _ = fit_tokens(result.output, budget)
    content = render("tool_result.j2", result=result, output=output, findings=findings, cached=cached)
    return transcript.tool_message(
        call_id,
        content,
        transcript.ToolFacts(
            command=result.command,
            output=output,
            exit_code=result.exit_code,
            error=result.error,
            status=str(result.status),
            truncated=bool(result.truncated),
            cached=cached,
        ),
    )


def result_from_event(ev: ToolResultEvent) -> ToolResult:
    return ToolResult(
        tool=ev.tool,
        ok=ev.ok,
        status=ev.status,
        exit_code=ev.exit_code,
        output=ev.output,
        command=ev.command,
        started_at=ev.started_at or "1970-01-01T00:00:00Z",
        duration_ms=ev.duration_ms,
        truncated=ev.truncated,
        error=ev.error,
        source=ev.source,
    )


def assistant_tool_calls(calls: list[ToolCall], text: str = "") -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": c.call_id,
                "type": "function",
                "function": {"name": c.tool, "arguments": json.dumps(c.args, sort_keys=True)},
            }
            for c in calls
        ],
    }


def messages_from_events(events: list[Event], budget: int) -> list[dict[str, Any]]:
    """Model messages for previous turns: user words, tool calls with their results, answers."""
    findings_by_call: dict[str, list[Finding]] = {}
    for finding in payloads(events, Finding):
        for evidence in finding.evidence:
            findings_by_call.setdefault(evidence.call_id, []).append(finding)

    messages: list[dict[str, Any]] = []
    pending_calls: list[ToolCall] = []
    answered: set[str] = set()
    text = ""

    def flush_calls() -> None:
        nonlocal text
        if not pending_calls:
            return
        messages.append(assistant_tool_calls(pending_calls, text))
        text = ""
        pending_calls.clear()

    for ev in events:
        data = ev.data  # one payload class per event type: matching the payload is matching the type
        if isinstance(data, UserMessage):
            _close_unanswered(messages, answered)
            messages.append({"role": "user", "content": data.text})
        elif isinstance(data, Token):
            text += data.text
        elif isinstance(data, ToolCall):
            pending_calls.append(data)
        elif isinstance(data, ToolResultEvent):
            flush_calls()
            answered.add(data.call_id)
            result = result_from_event(data)
            messages.append(
                tool_result_message(data.call_id, result, findings_by_call.get(data.call_id, []), budget)
            )
        elif isinstance(data, Message):
            flush_calls()
            messages.append({"role": "assistant", "content": data.text})
            text = ""
    flush_calls()
    _close_unanswered(messages, answered)
    return messages


def _close_unanswered(messages: list[dict[str, Any]], answered: set[str]) -> None:
    """An interrupted turn may leave tool calls without results; providers reject that, so answer them."""
    fixed: list[dict[str, Any]] = []
    for msg in messages:
        fixed.append(msg)
        for call in msg.get("tool_calls") or []:
            if call["id"] not in answered:
                answered.add(call["id"])
                fixed.append(
                    {
                        "role": "tool",
                        "tool_call_id": call["id"],
                        "content": "no result: the turn was interrupted before this call finished",
                    }
                )
    messages[:] = fixed
