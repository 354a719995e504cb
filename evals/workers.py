"""Spread an eval suite over forked worker processes.

The offline model thinks in Python, so one process uses one core however many cases run at once. Workers
are forked once the imports and the tokenizer are loaded, so each starts warm, and each runs its share of
the cases through the same `run_suite` as one process would. A worker that dies fails its cases with a
reason; it never hangs the suite.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import sys
from collections.abc import Callable

from assistant.config import Settings
from evals.format import Case
from evals.results import CaseResult, RunResult
from evals.suite import run_suite

MAX_JOBS = 4


def default_jobs(runs: int) -> int:
    """One worker per core (at most MAX_JOBS), only where fork exists and every worker gets 4 runs or more:
    a small suite is not worth a process."""
    if "fork" not in multiprocessing.get_all_start_methods() or sys.platform != "linux":
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_JOBS, runs // 4))


class SuiteWorkers:
    """Forks at construction (before the caller starts any thread, e.g. a progress bar); `collect` gathers."""

    def __init__(
        self,
        cases: list[Case],
        models: list[str],
        settings: Settings,
        *,
        repeat: int,
        judge: str | None,
        concurrency: int,
        jobs: int,
    ) -> None:
        from assistant.tokens import encoding

        encoding()  # loaded once here, inherited by every worker
        self.cases, self.models, self.repeat = cases, models, repeat
        ctx = multiprocessing.get_context("fork")
        self.messages: multiprocessing.Queue = ctx.Queue()
        shares = [cases[k::jobs] for k in range(jobs)]
        sys.stdout.flush()  # a child would otherwise flush the parent's pending output a second time
        sys.stderr.flush()
        self.procs = [
            ctx.Process(
                target=_work,
                name=f"firstline-eval-{k}",
                daemon=True,
                args=(share, models, settings, repeat, judge, max(1, concurrency // jobs), self.messages),
            )
            for k, share in enumerate(shares)
            if share
        ]
        for p in self.procs:
            p.start()

    def collect(self, on_result: Callable[[], None] | None = None) -> dict[str, list[CaseResult]]:
        """`run_suite`'s answer for the whole suite, in case order; `on_result` is called as each run ends."""
        done: dict[tuple[str, str], CaseResult] = {}
        finished = 0
        while finished < len(self.procs):
            try:
                message = self.messages.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs):
                    break  # a worker died before reporting: its cases fail below
                continue
            if message is None:
                if on_result is not None:
                    on_result()
                continue
            finished += 1
            for data in message:
                result = CaseResult.model_validate(data)
                done[(result.model, result.case)] = result
        for p in self.procs:
            p.join(5)
        lost = RunResult(
            passed=False,
            error="eval worker process died (exit codes: "
            + (", ".join(str(p.exitcode) for p in self.procs if p.exitcode) or "?")
            + ")",
        )
        return {
            m: [
                done.get((m, c.id))
                or CaseResult(case=c.id, model=m, title=c.title, runs=[lost] * self.repeat)
                for c in self.cases
            ]
            for m in self.models
        }


def _work(
    cases: list[Case],
    models: list[str],
    settings: Settings,
    repeat: int,
    judge: str | None,
    concurrency: int,
    messages: multiprocessing.Queue,
) -> None:
    """In the child: a None per finished run (progress), then this share's results."""
    results = asyncio.run(
        run_suite(
            cases,
            models,
            settings,
            repeat=repeat,
            judge=judge,
            concurrency=concurrency,
            on_result=lambda: messages.put(None),
        )
    )
    messages.put([r.model_dump(mode="json") for rs in results.values() for r in rs])
    messages.close()
    messages.join_thread()
