"""Eval throughput: recorded cases per second through `firstline eval` (the CLI end to end, start-up
included; one process, then its default of a worker process per core) and through the in-process runner
`evals.suite.run_suite` (warm).

    python bench/eval_throughput.py [--quick] [--cases DIR] [--json PATH]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, Figure, arg_parser, median, print_machine, run_timed, summary, table, write_figures

TARGET = 20.0
CASES = ROOT / "evals" / "cases"


def cli_run(cases: Path, repeat: int, *flags: str) -> tuple[float, float, int, float]:
    """`firstline eval <cases> --repeat R --json F [flags]`: wall s, CPU s (its worker processes included),
    runs, pass rate."""
    out = Path(tempfile.mkdtemp(prefix="firstline-bench-")) / "eval.json"
    argv = [
        sys.executable,
        "-m",
        "cli",
        "eval",
        str(cases),
        "--repeat",
        str(repeat),
        "--json",
        str(out),
        *flags,
    ]
    wall, cpu, code = run_timed(argv)
    if code not in (0, 1):  # 1 = some cases failed their checks, which is not a benchmark error
        raise RuntimeError(f"firstline eval exited with {code}")
    report = json.loads(out.read_text())
    runs = sum(len(r["runs"]) for r in report["results"])
    rate = sum(1 for r in report["results"] for run in r["runs"] if run["passed"]) / max(1, runs)
    return wall, cpu, runs, rate


async def in_process(cases_dir: Path, repeat: int, concurrency: int) -> tuple[float, int, float]:
    from assistant.config import Settings
    from evals.format import load_cases
    from evals.suite import run_suite

    settings = Settings(home=tempfile.mkdtemp(prefix="firstline-bench-"))
    cases = load_cases([str(cases_dir)]).cases
    t0, c0 = time.perf_counter(), time.process_time()
    results = await run_suite(cases, [settings.model], settings, repeat=repeat, concurrency=concurrency)
    wall = time.perf_counter() - t0
    runs = [run for cr in results[settings.model] for run in cr.runs]
    return wall, len(runs), time.process_time() - c0


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=CASES, help="case folder (default evals/cases)")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    print_machine(f"eval throughput ({args.cases}, model firstline/runbook)")
    asyncio.run(in_process(args.cases, 1, 8))  # warm-up: imports, tokenizer, templates
    rows, warm = [], []
    for concurrency in (1, 8):
        walls = []
        for _ in range(repeats):
            wall, runs, cpu = asyncio.run(in_process(args.cases, 1, concurrency))
            walls.append(wall)
        warm.append(runs / median(walls))
        rows.append(
            [
                f"in-process run_suite, concurrency {concurrency}",
                runs,
                median(walls),
                cpu,
                runs / median(walls),
            ]
        )
    cli = {}
    for label, repeat, flags in [
        ("firstline eval --jobs 1 (one process)", 1, ["--jobs", "1"]),
        ("firstline eval (default: a worker per core)", 1, []),
        ("firstline eval --repeat 5", 5, []),
    ]:
        if args.quick and repeat > 1:
            continue
        timed = [cli_run(args.cases, repeat, *flags) for _ in range(repeats)]
        wall = median([t[0] for t in timed])
        cpu, runs, pass_rate = timed[0][1], timed[0][2], timed[0][3]
        cli[label] = runs / wall
        rows.append([f"{label}, start-up included", runs, wall, cpu, runs / wall])
    table(["how", "cases", "wall s", "CPU s", "cases/s"], rows)
    print(f"pass rate of the runs: {pass_rate:.0%} (not the point here; see `firstline eval`)")
    best, end_to_end = max(warm), cli["firstline eval (default: a worker per core)"]
    figures = [
        Figure(
            "eval throughput, in-process runner (warm)",
            best,
            "cases/s",
            f">= {TARGET:g} cases/s",
            best >= TARGET,
        ),
        Figure(
            "eval throughput, `firstline eval` CLI end to end (37 cases, start-up included, median)",
            end_to_end,
            "cases/s",
            f">= {TARGET:g} cases/s",
            end_to_end >= TARGET,
        ),
    ]
    if "firstline eval --repeat 5" in cli:
        figures.append(
            Figure(
                "eval throughput, `firstline eval --repeat 5` end to end (185 runs)",
                cli["firstline eval --repeat 5"],
                "cases/s",
            )
        )
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "eval_throughput", figures)


if __name__ == "__main__":
    main()
