"""Cold start: `firstline serve` to the first 200 on /healthz, import times in fresh interpreters, and the
imports that cost the most (`python -X importtime`).

    python bench/cold_start.py [--quick] [--json PATH]
"""

from __future__ import annotations

import subprocess
import sys

from benchlib import ROOT, Figure, Server, arg_parser, median, print_machine, summary, table, write_figures

TARGET_S = 3.0
MODULES = ["assistant", "cli", "assistant.loop", "web.app", "litellm"]
"""litellm loads on the first call to a hosted model (the server warms it in a thread after /healthz)."""
FIRST_PARTY = ("assistant", "tools", "web", "evals", "prompts", "cli")


def import_seconds(module: str) -> tuple[float, float]:
    """Wall and CPU seconds to import `module` in a fresh interpreter (interpreter start-up excluded)."""
    code = (
        "import time; t, c = time.perf_counter(), time.process_time(); import "
        + module
        + "; print(time.perf_counter() - t, time.process_time() - c)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def serve_to_healthz() -> tuple[float, float, int]:
    with Server() as server:
        return server.ready_s, server.ready_cpu_s, server.rss_now()


def _first_party(name: str) -> bool:
    return name.split(".")[0] in FIRST_PARTY


def import_offenders(module: str, top: int = 8) -> list[tuple[str, str, float]]:
    """Third-party packages imported straight from Firstline code, by cumulative import time (s)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line[13:]:
            continue
        _, cumulative, name = line[12:].split("|")
        if cumulative.strip().isdigit():
            rows.append((len(name) - len(name.lstrip()), name.strip(), int(cumulative) / 1e6))
    # importtime prints children before their parent: a row's parent is the next row with smaller depth.
    found = []
    for i, (depth, name, cum) in enumerate(rows):
        if _first_party(name):
            continue
        parent = next((n for d, n, _ in rows[i + 1 :] if d < depth), "")
        if _first_party(parent) or depth <= 1:
            found.append((name, parent or "(top)", cum))
    return sorted(found, key=lambda r: -r[2])[:top]


def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    n = 3 if args.quick else 5
    print_machine(f"cold start (median of {n})")
    runs = {m: [import_seconds(m) for _ in range(n)] for m in MODULES}
    imports = {m: [w for w, _ in v] for m, v in runs.items()}
    table(
        ["import (fresh interpreter)", "median s", "min s", "max s", "CPU s (median)"],
        [
            [m, median(imports[m]), min(imports[m]), max(imports[m]), median([c for _, c in v])]
            for m, v in runs.items()
        ],
    )
    ready, cpu, rss = [], [], 0
    for _ in range(n):
        seconds, cpu_s, rss = serve_to_healthz()
        ready.append(seconds)
        cpu.append(cpu_s)
    print()
    table(
        [
            "firstline serve -> 200 /healthz",
            "median s",
            "min s",
            "max s",
            "CPU s (median)",
            "RSS when ready MB",
        ],
        [["serve", median(ready), min(ready), max(ready), median(cpu), rss / 2**20]],
    )
    print("(CPU s: what the process itself used; on an idle machine wall time is close to it)")
    print("\nslowest third-party imports under `import web.app` (cumulative s):")
    table(["package", "imported by", "s"], import_offenders("web.app"))
    figures = [
        Figure(
            "firstline serve to first 200 /healthz (median)",
            median(ready),
            "s",
            f"< {TARGET_S:g} s",
            median(ready) < TARGET_S,
        ),
        Figure(
            "import assistant (median)",
            median(imports["assistant"]),
            "s",
            f"< {TARGET_S:g} s",
            median(imports["assistant"]) < TARGET_S,
        ),
        Figure(
            "import assistant.loop (agent loop, median)",
            median(imports["assistant.loop"]),
            "s",
            f"< {TARGET_S:g} s",
            median(imports["assistant.loop"]) < TARGET_S,
        ),
        Figure("import web.app (median)", median(imports["web.app"]), "s"),
        Figure(
            "import litellm (first hosted-model call; serve warms it in a thread, median)",
            median(imports["litellm"]),
            "s",
        ),
        Figure("firstline serve CPU seconds until healthy (median)", median(cpu), "s"),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "cold_start", figures)


if __name__ == "__main__":
    main()
