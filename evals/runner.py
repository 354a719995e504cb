"""`firstline eval`: load recorded cases, run and score them, report, and pick the exit code.

Each case gets a fresh ReplayTarget and goes through `assistant.loop.run_turn`, the
same loop the CLI and server use, with an approver that denies every write (evals/suite.py).
Cases are independent and offline, so they run concurrently under a bounded semaphore, in
forked worker processes where that pays (evals/workers.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assistant.config import Settings, load_settings
from evals.format import load_cases
from evals.report import print_report, write_json, write_junit
from evals.results import CaseResult, build_report, find_regressions, totals
from evals.suite import DEFAULT_CONCURRENCY, run_suite
from evals.workers import SuiteWorkers, default_jobs


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
