"""Spread the runs of an eval suite over forked worker processes.

The offline model thinks in Python, so one process uses one core however many cases run at once. Workers
are forked once the imports and the tokenizer are loaded, so each starts warm; each runs its share of
(case, model) runs with the same `run_case` as the in-process runner and sends every result back as soon
as it is done. A worker that dies fails its missing runs with a reason; it never hangs the suite.
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
from evals.results import RunResult

MAX_JOBS = 4
Run = tuple[int, str]
"""One run: the case's index in the suite and the model."""


def default_jobs(runs: int) -> int:
    """One worker per core (at most MAX_JOBS), only where fork exists and every worker gets 4 runs or more:
    a small suite is not worth a process."""
    if "fork" not in multiprocessing.get_all_start_methods() or sys.platform != "linux":
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_JOBS, runs // 4))


class SuiteWorkers:
    """Forks at construction (before the caller starts any thread, e.g. a progress bar); `collect` gathers."""

    def __init__(self, cases: list[Case], runs: list[Run], settings: Settings, judge: str | None,
                 concurrency: int, jobs: int) -> None:
        from assistant.tokens import encoding

        encoding()  # loaded once here, inherited by every worker
        self.runs = runs
        ctx = multiprocessing.get_context("fork")
        self.results: multiprocessing.Queue = ctx.Queue()
        shares = [list(range(k, len(runs), jobs)) for k in range(jobs)]
        per_worker = max(1, concurrency // jobs)
        sys.stdout.flush()  # a child would otherwise flush the parent's pending output a second time
        sys.stderr.flush()
        self.procs = [ctx.Process(target=_work, args=(cases, runs, share, settings, judge, per_worker, self.results),
                                  name=f"firstline-eval-{k}", daemon=True) for k, share in enumerate(shares)]
        for p in self.procs:
            p.start()

    def collect(self, on_result: Callable[[], None] | None = None) -> list[RunResult]:
        """Every run's result in the order of `runs`."""
        got: dict[int, RunResult] = {}
        while len(got) < len(self.runs):
            try:
                index, data = self.results.get(timeout=0.5)
            except queue.Empty:
                if any(p.is_alive() for p in self.procs):
                    continue
                try:  # all gone: take what they sent before exiting, then fail the rest
                    while True:
                        index, data = self.results.get(timeout=0.2)
                        got[index] = RunResult.model_validate(data)
                except queue.Empty:
                    break
            else:
                got[index] = RunResult.model_validate(data)
                if on_result is not None:
                    on_result()
        for p in self.procs:
            p.join(5)
        codes = ", ".join(str(p.exitcode) for p in self.procs if p.exitcode)
        return [got.get(i) or RunResult(passed=False, error=f"eval worker process died (exit codes: {codes or '?'})")
                for i in range(len(self.runs))]


def _work(cases: list[Case], runs: list[Run], share: list[int], settings: Settings, judge: str | None,
          concurrency: int, results: multiprocessing.Queue) -> None:
    from evals.runner import run_case

    async def main() -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            case_index, model = runs[index]
            async with sem:
                result = await run_case(cases[case_index], model, settings, judge)
            results.put((index, result.model_dump(mode="json")))

        await asyncio.gather(*(one(i) for i in share))

    asyncio.run(main())
    results.close()
    results.join_thread()
