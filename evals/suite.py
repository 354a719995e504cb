"""Running eval cases: each case's user turns through the real agent loop against its recorded outputs,
with every write denied, then scored. One process (`run_suite`) or several (evals/workers.py) run the same
`run_case`; the `firstline eval` command around them is evals/runner.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from assistant.config import Settings
from assistant.context import TurnContext
from assistant.events import ApprovalDecided, ApprovalRequired, Event, ToolCall, TurnFinished, payloads
from assistant.loop import new_turn_id, run_turn, user_message_event
from assistant.providers import Providers
from evals.format import Case
from evals.judge import judge as judge_answer
from evals.results import CaseResult, RunResult
from evals.score import answer_text, score
from tools.targets.replay import ReplayFleet, ReplayTarget, format_call, open_replay

DEFAULT_CONCURRENCY = 8
CASE_TIMEOUT_S = 600.0


class DenyAndCount:
    """The eval approver: every write request is denied (never executed) and counted."""

    def __init__(self) -> None:
        self.requests: list[ApprovalRequired] = []

    async def __call__(self, request: ApprovalRequired) -> ApprovalDecided:
        self.requests.append(request)
        return ApprovalDecided(
            approval_id=request.approval_id,
            decision="deny",
            by="firstline-eval",
            comment="evals never execute write actions",
        )


def replay_target(case: Case) -> ReplayTarget | ReplayFleet:
    return open_replay(
        case.tools, name=case.target.name, described_kind=case.target.kind, hosts=case.target.hosts
    )


async def converse(
    case: Case, model: str, settings: Settings, providers: Providers | None = None
) -> tuple[list[Event], ReplayTarget | ReplayFleet, DenyAndCount]:
    """Send the case's user turns in order, each with the earlier events as history."""
    target, approver = replay_target(case), DenyAndCount()
    llm = (providers or Providers(settings)).model(model)
    session_id = f"eval-{case.id}-{uuid.uuid4().hex[:8]}"
    events: list[Event] = []
    for text in case.turns:
        turn_id = new_turn_id()
        ctx = TurnContext(
            settings=settings,
            target=target,
            model=model,
            session_id=session_id,
            turn_id=turn_id,
            approver=approver,
            llm=llm,
        )
        history = list(events)
        events.append(user_message_event(text, turn_id))
        async for event in run_turn(ctx, history, text):
            events.append(event)
    return events, target, approver


def _run_result(
    case: Case, events: list[Event], target: ReplayTarget | ReplayFleet, approver: DenyAndCount, wall_s: float
) -> RunResult:
    checks = score(case, events)
    finished = payloads(events, TurnFinished)
    costs = [f.cost_usd for f in finished if f.cost_usd is not None]
    calls = payloads(events, ToolCall)
    return RunResult(
        passed=all(c.passed for c in checks),
        checks=checks,
        tool_calls=len(calls),
        unrecorded=list(target.unrecorded),
        approvals_denied=len(approver.requests),
        steps=sum(f.steps for f in finished),
        prompt_tokens=sum(f.prompt_tokens for f in finished),
        completion_tokens=sum(f.completion_tokens for f in finished),
        cost_usd=sum(costs) if costs else None,
        wall_s=round(wall_s, 3),
        answer=answer_text(events),
        calls=[format_call(c.tool, c.args) for c in calls],
    )


async def run_case(
    case: Case,
    model: str,
    settings: Settings,
    judge: str | None = None,
    timeout_s: float = CASE_TIMEOUT_S,
    providers: Providers | None = None,
) -> RunResult:
    """One run of one case. Never raises: a broken run is a failed RunResult saying why."""
    t0 = time.perf_counter()
    try:
        events, target, approver = await asyncio.wait_for(
            converse(case, model, settings, providers), timeout_s
        )
    except TimeoutError:
        return RunResult(
            passed=False, error=f"run timed out after {timeout_s:g}s", wall_s=time.perf_counter() - t0
        )
    except Exception as exc:  # noqa: BLE001 - a loop or model crash fails this case, not the suite
        return RunResult(
            passed=False, error=f"run crashed: {type(exc).__name__}: {exc}", wall_s=time.perf_counter() - t0
        )
    result = _run_result(case, events, target, approver, time.perf_counter() - t0)
    if judge and case.expect.summary:
        verdict = await judge_answer(judge, case, result.answer)
        result.judge_score, result.judge_reason = verdict.score, verdict.reason
    return result


async def run_suite(
    cases: list[Case],
    models: list[str],
    settings: Settings,
    *,
    repeat: int = 1,
    judge: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: Callable[[], None] | None = None,
) -> dict[str, list[CaseResult]]:
    """Every case x model x repeat, concurrently; results grouped per model in case order. `on_result` is
    called as each run ends (a progress bar)."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(case: Case, model: str) -> RunResult:
        async with sem:
            result = await run_case(case, model, settings, judge)
        if on_result is not None:
            on_result()
        return result

    results: dict[str, list[CaseResult]] = {}
    for model in models:
        per_case = [asyncio.gather(*(one(c, model) for _ in range(repeat))) for c in cases]
        runs = await asyncio.gather(*per_case)
        results[model] = [
            CaseResult(
                case=c.id,
                model=model,
                title=c.title,
                path=str(c.path) if c.path else None,
                tags=c.tags,
                no_fault=c.expect.no_fault,
                runs=list(r),
            )
            for c, r in zip(cases, runs, strict=False)
        ]
    return results
