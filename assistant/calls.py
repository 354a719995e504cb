"""Executing the tool calls of one model step: parse, gate, run, analyze, feed back.

Read calls run concurrently; write calls wait for a person's approval, one by
one. Every problem (bad JSON, unknown tool, bad arguments, denial, budget) goes
back to the model as an error result, never as an exception.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assistant import cpu
from assistant.approval_text import approval_reason
from assistant.context import TurnContext, arg_limit_violation
from assistant.events import (
    ApprovalDecided,
    ApprovalRequired,
    Event,
    Finding,
    ToolCall,
    ToolResultEvent,
    payloads,
)
from assistant.history import assistant_tool_calls, tool_result_message
from assistant.redaction import redact_value, redactor_for
from assistant.turn_state import TurnState, result_budget
from tools.base import Risk, ToolArgError, ToolResult
from tools.commands import command_line
from tools.runner import run_tool
from tools.targets.fleet import Fleet


@dataclass
class Planned:
    """A requested call after parsing: either runnable args or the reason it cannot run."""

    call_id: str
    name: str
    args: dict[str, Any]
    problem: str | None = None
    cache_key: str = ""
    from_text: bool = False


def _parse(ctx: TurnContext, req_name: str, raw: str) -> tuple[dict[str, Any], str | None]:
    try:
        args = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        return (
            {},
            f"malformed argument JSON for {req_name}: {exc.msg} at position {exc.pos}; send a JSON object",
        )
    if not isinstance(args, dict):
        return {}, f"arguments for {req_name} must be a JSON object, got {type(args).__name__}"
    if ctx.tool(req_name) is None:
        names = ", ".join(t.name for t in ctx.tools)
        return args, f"unknown or unavailable tool {req_name!r} in this session; available: {names}"
    return args, None


def _normalized(ctx: TurnContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments with defaults filled in, so {port: 80} and {port: 80, protocol: tcp} are one call."""
    tool = ctx.tool(name)
    try:
        return tool.validate_args(args).model_dump(exclude_none=True) if tool else args
    except ValueError:
        return args


def plan(ctx: TurnContext, state: TurnState, calls) -> list[Planned]:
    planned = []
    for req in calls:
        args, problem = _parse(ctx, req.name, req.arguments)
        key = req.name + json.dumps(_normalized(ctx, req.name, args), sort_keys=True, default=str)
        if problem is None and key not in state.cache and state.tool_calls >= state.max_tool_calls:
            problem = f"tool call budget ({state.max_tool_calls}) reached; not run"
        planned.append(
            Planned(
                call_id="c" + uuid.uuid4().hex[:12],
                name=req.name,
                args=args,
                problem=problem,
                cache_key=key,
                from_text=req.from_text,
            )
        )
    return planned


def shown_args(ctx: TurnContext, p: Planned) -> tuple[dict[str, Any], str]:
    """The arguments and command line as stored, streamed and shown: secrets the model put in them (a URL's
    password, a token in a query) masked. The tool itself runs with the real arguments."""
    redactor = redactor_for(ctx.settings)
    args = redact_value(p.args, redactor)
    assert isinstance(args, dict)
    return args, (command_line(p.name, args) if p.problem is None else "")


def _refusal(ctx: TurnContext, p: Planned, message: str) -> ToolResult:
    args, command = shown_args(ctx, p)
    return ToolResult(
        tool=p.name,
        args=args,
        ok=False,
        status="refused",
        output="",
        error=message,
        target=ctx.target.name,
        command=command,
        started_at=datetime.now(UTC),
    )


async def _run_read(ctx: TurnContext, state: TurnState, p: Planned) -> tuple[Planned, ToolResult, bool]:
    if p.problem:
        return p, _refusal(ctx, p, p.problem), False
    cached = state.cache.get(p.cache_key)
    if cached is not None:
        return p, await cached, True
    state.tool_calls += 1
    task = asyncio.ensure_future(run_tool(ctx.target, p.name, p.args, redactor=redactor_for(ctx.settings)))
    state.cache[p.cache_key] = task
    return p, await task, False


def _checked_write_args(ctx: TurnContext, p: Planned) -> dict[str, Any] | str:
    """The arguments validated, defaults filled in, and within the policy's limits; else the reason not."""
    tool = ctx.tool(p.name)
    try:
        args = tool.validate_args(p.args).model_dump(exclude_none=True) if tool else p.args
    except ToolArgError as exc:
        return f"{exc}; not sent for approval"
    return arg_limit_violation(ctx.settings, p.name, args) or args


async def _run_write(
    ctx: TurnContext, state: TurnState, p: Planned, reason: str
) -> AsyncIterator[Event | ToolResult]:
    """Ask a person; run only on approval. Policy limits are checked before anyone is asked."""
    if p.problem:
        yield _refusal(ctx, p, p.problem)
        return
    checked = _checked_write_args(ctx, p)  # nobody is asked to approve pid 1, `nginx;reboot` or -n default
    if isinstance(checked, str):
        yield _refusal(ctx, p, checked)
        return
    host = p.args.get("host") or p.args.get("from_host") if isinstance(ctx.target, Fleet) else None
    where = f"{ctx.target.name} (host {host})" if host else ctx.target.name  # the person sees which host
    args, command = shown_args(ctx, p)
    request = ApprovalRequired(
        approval_id="a" + uuid.uuid4().hex[:12],
        call_id=p.call_id,
        tool=p.name,
        args=args,
        command=command,
        target=where,
        reason=reason.strip(),
    )
    yield Event.of(request, ctx.turn_id)
    decision: ApprovalDecided = await ctx.approver(request)
    yield Event.of(decision, ctx.turn_id)
    if decision.decision != "approve":
        comment = f": {decision.comment}" if decision.comment else ""
        yield _refusal(ctx, p, f"{p.name} was denied by {decision.by}{comment}.")  # shown to people as is
        return
    state.tool_calls += 1
    result = await run_tool(
        ctx.target,
        p.name,
        p.args,
        approved=True,
        approval_id=request.approval_id,
        redactor=redactor_for(ctx.settings),
    )
    if result.ok:  # the system changed: earlier reads are stale, and open findings await their re-check
        state.cache.clear()
        state.verifier.fixed(p.call_id, result.command)
    yield result


async def _analyze(ctx: TurnContext, state: TurnState, p: Planned, result: ToolResult) -> list[Finding]:
    """Every finding in `result`. The analysis is pure CPU (parsers, regexes over the output): it runs in a
    worker thread so that the event loop keeps streaming other sessions meanwhile."""
    from assistant.findings import analyze

    return await cpu.run(ctx.offload, analyze, result, p.call_id, tuple(state.findings))


def _new_findings(state: TurnState, found: list[Finding]) -> list[Finding]:
    """The findings not seen before in this session, numbered on."""
    fresh = []
    for finding in found:
        key = finding.signature + json.dumps(finding.facts, sort_keys=True, default=str)
        if key in state.finding_keys:
            continue
        state.finding_keys.add(key)
        state.finding_count += 1
        finding.finding_id = f"F{state.finding_count}"
        state.finding_ids.append(finding.finding_id)
        state.findings.append(finding)
        state.verifier.add(finding)
        fresh.append(finding)
    return fresh


async def _result_events(
    ctx: TurnContext,
    state: TurnState,
    messages: list[dict],
    p: Planned,
    result: ToolResult,
    cached: bool,
    write: bool = False,
) -> list[Event]:
    found = [] if cached else await _analyze(ctx, state, p, result)
    resolved = [] if cached or write else state.verifier.check(p.call_id, result, found)
    findings = _new_findings(state, found)
    event = ToolResultEvent(
        call_id=p.call_id,
        tool=p.name,
        ok=result.ok,
        status=result.status,
        exit_code=result.exit_code,
        duration_ms=round(result.duration_ms, 1),
        truncated=result.truncated,
        excerpt=result.excerpt(),
        output=result.output,
        command=result.command,
        error=redactor_for(ctx.settings)(result.error) if result.error else None,
        source=result.source,
        cached=cached,
        started_at=result.started_at.isoformat(),
        output_sha256=result.output_sha256,
        host=result.host,
        remote=result.remote,
    )
    messages.append(
        await cpu.run(
            ctx.offload, tool_result_message, p.call_id, result, findings, result_budget(ctx), cached
        )
    )  # tiktoken: off the loop
    return (
        [Event.of(event, ctx.turn_id)]
        + [Event.of(f, ctx.turn_id) for f in findings]
        + [Event.of(r, ctx.turn_id) for r in resolved]
    )


async def execute(
    ctx: TurnContext, state: TurnState, messages: list[dict], calls, text: str
) -> AsyncIterator[Event]:
    """Run one step's calls and append the assistant + tool messages the model will read next."""
    planned = plan(ctx, state, calls)
    tools = {p.call_id: ctx.tool(p.name) for p in planned}
    for p in planned:
        tool = tools[p.call_id]
        args, command = shown_args(ctx, p)
        yield Event.of(
            ToolCall(
                call_id=p.call_id,
                tool=p.name,
                args=args,
                target=ctx.target.name,
                command=command,
                risk=tool.risk.value if tool else "read",
                from_text=p.from_text,
            ),
            ctx.turn_id,
        )
    messages.append(
        assistant_tool_calls([ToolCall(call_id=p.call_id, tool=p.name, args=p.args) for p in planned], text)
    )
    reads = [p for p in planned if not (tools[p.call_id] and tools[p.call_id].risk is Risk.WRITE)]
    writes = [p for p in planned if p not in reads]
    fresh = 0
    # All reads run at once; their results are analysed in the order the model asked for them, so a
    # finding can build on an earlier call's (a bind error makes the port's owner the cause) whichever
    # finished first, and a replayed turn reads exactly as the live one did.
    running = [asyncio.ensure_future(_run_read(ctx, state, p)) for p in reads]
    for next_done in running:
        p, result, cached = await next_done
        fresh += 0 if cached else 1
        for event in await _result_events(ctx, state, messages, p, result, cached):
            yield event
    for p in writes:
        async for item in _run_write(ctx, state, p, approval_reason(p.name, p.args, text)):
            if isinstance(item, Event):
                yield item
            else:
                fresh += 1
                for event in await _result_events(ctx, state, messages, p, item, False, write=True):
                    yield event
    state.no_progress = 0 if fresh else state.no_progress + 1


def remember_findings(state: TurnState, history: list[Event]) -> None:
    """Findings from earlier turns are not announced again, and numbering continues."""
    for finding in payloads(history, Finding):
        state.finding_keys.add(finding.signature + json.dumps(finding.facts, sort_keys=True, default=str))
        state.finding_count += 1
        state.findings.append(finding)
    state.verifier.remember(history)


def fallback_answer(state: TurnState, reason: str | None) -> str:
    """When the model gives no text at all, say so plainly rather than inventing a diagnosis."""
    if reason:
        return "The model gave no final answer. See the tool results and findings above."
    return "The model returned an empty answer. Try rephrasing, or another model."
