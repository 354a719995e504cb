"""The agent loop: one async generator of typed events.

The CLI prints these events, the server persists and streams them, the eval
runner scores them. Each model step ends in one named outcome (answer, run tools,
failed); budgets turn into a last tool-less call that forces an answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from assistant import calls as tool_calls
from assistant import cpu, metrics, transcript
from assistant.context import TurnContext
from assistant.events import Error, Event, EventType, Message, Token, TurnFinished, TurnStarted, UserMessage
from assistant.history import messages_from_events
from assistant.model import ModelError, ToolCallRequest
from assistant.prompting import render
from assistant.redaction import redactor_for
from assistant.text_calls import calls_in_text
from assistant.tokens import count_tokens
from assistant.turn_state import TurnState, result_budget
from assistant.window import context_limit, fit_messages, learn_window
from tools.redact_stream import StreamMasker
from tools.targets.fleet import Fleet


@dataclass
class Answer:
    text: str


@dataclass
class RunTools:
    calls: list[ToolCallRequest]
    text: str


@dataclass
class Failed:
    error: ModelError


Outcome = Answer | RunTools | Failed


def system_prompt(ctx: TurnContext) -> str:
    write_tools = [t.name for t in ctx.tools if t.risk.value == "write"]
    return render(
        "system.md.j2",
        target=ctx.target.describe(),
        now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        write_tools=write_tools,
        read_only=ctx.settings.policy.read_only,
        fleet=isinstance(ctx.target, Fleet),
    )


def tool_schemas(ctx: TurnContext) -> list[dict]:
    return [t.function_schema() for t in ctx.tools]


def _fit_prompt(
    ctx: TurnContext, messages: list[dict], keep_from: int, tools: list[dict] | None
) -> list[dict]:
    tools_tokens = count_tokens(str(tools)) if tools else 0
    return fit_messages(
        messages, context_limit(ctx.model, ctx.settings.context_limit), tools_tokens, keep_from
    )


async def model_step(
    ctx: TurnContext, state: TurnState, messages: list[dict], keep_from: int, tools: list[dict] | None
) -> AsyncIterator[Event | Outcome]:
    """One model call: stream tokens as events, end with the step's outcome."""
    state.steps += 1
    prompt = await cpu.run(
        ctx.offload, _fit_prompt, ctx, messages, keep_from, tools
    )  # tiktoken: off the loop
    started = time.perf_counter()
    redactor = redactor_for(ctx.settings)  # the model may quote a key: masked before it is stored or streamed
    masker = StreamMasker(redactor, whole_lines=bool(ctx.settings.redact_patterns))
    try:
        async for item in ctx.chat_model.stream(prompt, tools):
            if isinstance(item, str):
                if text := masker.feed(item):
                    yield Event.of(Token(text=text), ctx.turn_id)
                continue
            if rest := masker.flush():
                yield Event.of(Token(text=rest), ctx.turn_id)
            state.add_usage(item)
            metrics.model_call(
                ctx.model, time.perf_counter() - started, "ok", item.prompt_tokens, item.completion_tokens
            )
            if not item.tool_calls and tools:  # a local model that writes its call as JSON in the text
                item.tool_calls = calls_in_text(item.text, {t["function"]["name"] for t in tools})
            said = await cpu.run(ctx.offload, redactor, item.text) if item.text else item.text
            yield RunTools(item.tool_calls, said) if item.tool_calls and tools else Answer(said)
    except ModelError as exc:
        metrics.model_call(ctx.model, time.perf_counter() - started, exc.kind)
        yield Failed(exc)


async def run_turn(ctx: TurnContext, history: list[Event], user_text: str) -> AsyncIterator[Event]:
    """Investigate one user message; yields events until `turn_finished`."""
    state = TurnState(max_steps=ctx.settings.max_steps, max_tool_calls=ctx.settings.max_tool_calls)
    await learn_window(ctx.chat_model, ctx.settings.context_limit)
    tool_calls.remember_findings(state, history)
    yield Event.of(TurnStarted(model=ctx.model, target=ctx.target.name), ctx.turn_id)
    messages = [transcript.system_message(system_prompt(ctx), ctx.target.describe())]
    messages += messages_from_events(
        [e for e in history if e.type is not EventType.TURN_STARTED], result_budget(ctx)
    )
    messages.append({"role": "user", "content": user_text})
    keep_from = len(messages) - 1
    status, schemas = "completed", tool_schemas(ctx)
    while True:
        reason = state.exhausted()
        if reason:
            status = "budget"
            messages.append({"role": "user", "content": render("budget_exhausted.md.j2", reason=reason)})
        outcome: Outcome | None = None
        async for item in model_step(ctx, state, messages, keep_from, None if reason else schemas):
            if isinstance(item, Event):
                yield item
            else:
                outcome = item
        if isinstance(outcome, RunTools):
            async for event in tool_calls.execute(ctx, state, messages, outcome.calls, outcome.text):
                yield event
            continue
        if isinstance(outcome, Answer):
            text = outcome.text.strip() or tool_calls.fallback_answer(state, reason)
            if reason:
                text = f"_Stopped early: {reason}._\n\n{text}"
            yield Event.of(Message(text=text, finding_ids=list(state.finding_ids)), ctx.turn_id)
        else:
            status = "error"
            err = outcome.error if isinstance(outcome, Failed) else ModelError("the model returned nothing")
            yield Event.of(Error(message=str(err), kind=err.kind, hint=err.hint), ctx.turn_id)
        break
    yield Event.of(
        TurnFinished(
            status=status,
            steps=state.steps,
            tool_calls=state.tool_calls,
            prompt_tokens=state.prompt_tokens,
            completion_tokens=state.completion_tokens,
            cost_usd=state.cost_usd,
            wall_ms=round((time.perf_counter() - state.started) * 1000, 1),
        ),
        ctx.turn_id,
    )


def new_turn_id() -> str:
    return uuid.uuid4().hex


def user_message_event(text: str, turn_id: str, author: str = "user") -> Event:
    """The event the caller persists before running the turn, so the user's words are never lost."""
    return Event.of(UserMessage(text=text, author=author), turn_id)
