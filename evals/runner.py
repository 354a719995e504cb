"""`firstline eval`: run recorded cases through the real agent loop and score them.

Each case gets a fresh ReplayTarget and goes through `assistant.loop.run_turn`, the
same loop the CLI and server use, with an approver that denies every write. Cases
are independent and offline, so they run concurrently under a bounded semaphore.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assistant.config import Settings, load_settings
from assistant.context import TurnContext
from assistant.events import ApprovalDecided, ApprovalRequired, Event, EventType
from assistant.loop import new_turn_id, run_turn, user_message_event
from assistant.providers import Providers
from evals.format import Case, load_cases
from evals.judge import judge as judge_answer
from evals.report import print_report, write_json, write_junit
from evals.results import CaseResult, RunResult, build_report, find_regressions, totals
from evals.score import answer_text, score
from evals.workers import SuiteWorkers, default_jobs
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
) -> tuple[list[Event], ReplayTarget, DenyAndCount]:
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
    finished = [e.data for e in events if e.type is EventType.TURN_FINISHED]
    costs = [f.cost_usd for f in finished if f.cost_usd is not None]
    calls = [e.data for e in events if e.type is EventType.TOOL_CALL]
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


def _read_baseline(path: Path | str | None) -> tuple[dict[str, Any] | None, str | None]:
    if path is None:
        return None, None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"cannot read baseline {path}: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return None, f"baseline {path} is not a `firstline eval --json` report"
    return data, None


def _run_sync(coro):
    """asyncio.run, also when the caller already runs an event loop (then in a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def run_cli(
    paths: list[str],
    models: list[str] | None = None,
    judge: str | None = None,
    repeat: int = 1,
    json_path: str | Path | None = None,
    junit_path: str | Path | None = None,
    baseline: str | Path | None = None,
    min_pass: float = 0.0,
    *,
    settings: Settings | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    jobs: int | None = None,
) -> int:
    """The whole `firstline eval` command. Exit code: 0 ok; 1 below --min-pass, a regression
    against --baseline, or case files that failed to load; 2 nothing to run or a bad baseline.
    `jobs`: worker processes (None: one per core where it pays, see `default_jobs`; 1: this process)."""
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    settings = settings or load_settings()
    models = list(models or []) or [settings.model]
    loaded = load_cases(paths)
    base, base_error = _read_baseline(baseline)
    if base_error:
        console.print(f"[red]error[/] {base_error}")
        return 2
    if not loaded.cases:
        for err in loaded.errors:
            console.print(f"[red]invalid case[/] {err}")
        console.print("[red]error[/] no valid cases found in " + ", ".join(map(str, paths)))
        return 2
    repeat = max(1, repeat)
    jobs = default_jobs(len(loaded.cases) * len(models) * repeat) if jobs is None else max(1, jobs)
    workers = (
        SuiteWorkers(
            loaded.cases, models, settings, repeat=repeat, judge=judge, concurrency=concurrency, jobs=jobs
        )
        if jobs > 1
        else None
    )  # forked before the progress bar starts its thread
    with _progress() as progress:
        task_id = progress.add_task("eval", total=len(loaded.cases) * len(models) * repeat)
        advance = functools.partial(progress.advance, task_id)
        if workers is not None:
            results = workers.collect(on_result=advance)
        else:
            results = _run_sync(
                run_suite(
                    loaded.cases,
                    models,
                    settings,
                    repeat=repeat,
                    judge=judge,
                    concurrency=concurrency,
                    on_result=advance,
                )
            )
    regressions = find_regressions(results, base) if base else []
    print_report(console, results, repeat, loaded.errors, regressions)
    meta = {
        "paths": [str(p) for p in paths],
        "models": models,
        "judge": judge,
        "repeat": repeat,
        "min_pass": min_pass,
        "baseline": str(baseline) if baseline else None,
    }
    if json_path:
        write_json(
            Path(json_path),
            build_report(
                results,
                meta=meta,
                regressions=regressions,
                load_errors=[e.model_dump() for e in loaded.errors],
            ),
        )
    if junit_path:
        write_junit(Path(junit_path), results, loaded.errors)
    return _exit_code(console, results, min_pass, regressions, bool(loaded.errors))


def _exit_code(
    console: Console,
    results: dict[str, list[CaseResult]],
    min_pass: float,
    regressions: list[dict[str, str]],
    load_failed: bool,
) -> int:
    code = 0
    for model, cases in results.items():
        rate = totals(cases)["pass_rate"]
        if rate < min_pass:
            console.print(f"[red]FAIL[/] {model}: pass rate {rate:.1%} is below --min-pass {min_pass:.1%}")
            code = 1
    if regressions:
        console.print(f"[red]FAIL[/] {len(regressions)} regression(s) against the baseline")
        code = 1
    if load_failed:
        console.print("[red]FAIL[/] some case files are invalid (see above)")
        code = 1
    return code
