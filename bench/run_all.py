"""Run every benchmark, one after another, then print the README's Markdown table: figure, value, target, met?

    python bench/run_all.py [--quick] [--only NAME ...] [--markdown PATH]

Each benchmark runs as its own process (cold start needs fresh interpreters anyway) and prints its
own tables as it goes; a benchmark that fails is reported in the table, and the others still run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, Figure, arg_parser, machine

BENCHMARKS = ["cold_start", "context_economy", "eval_throughput", "turn_latency", "concurrency", "nodes"]
OPTIONS = {"concurrency": ["--hosted"]}
"""Extra arguments: the concurrency table also shows a hosted model (a stand-in provider on 127.0.0.1)."""
LIMIT_S = 3600


def run_one(name: str, quick: bool, out_dir: Path) -> tuple[list[Figure], str | None]:
    out = out_dir / f"{name}.json"
    flags = OPTIONS.get(name, []) + (["--quick"] if quick else [])
    argv = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--json", str(out), *flags]
    print(f"\n$ python bench/{name}.py {' '.join(flags)}".rstrip(), flush=True)
    t0 = time.perf_counter()
    try:
        code = subprocess.run(argv, cwd=ROOT, timeout=LIMIT_S, check=False).returncode
    except subprocess.TimeoutExpired:
        return [], f"timed out after {LIMIT_S}s"
    print(f"({name}: {time.perf_counter() - t0:.0f}s)", flush=True)
    if code != 0 or not out.exists():
        return [], f"exited with {code}"
    data = json.loads(out.read_text())
    return [
        Figure(**{k: v for k, v in f.items() if k in Figure.__dataclass_fields__}) for f in data["figures"]
    ], None


def markdown(results: dict[str, tuple[list[Figure], str | None]], quick: bool) -> str:
    m = machine()
    head = (
        f"Measured on {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}"
        f"{', quick mode' if quick else ''}; load average at the end {' '.join(map(str, m['load']))}."
    )
    lines = [head, "", "| figure | value | target | met? |", "| --- | --- | --- | --- |"]
    for name, (figures, error) in results.items():
        if error:
            lines.append(f"| `bench/{name}.py` | failed: {error} | | |")
        for f in figures:
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            lines.append(f"| {f.name} | {f.text()} | {f.target} | {met} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--markdown", metavar="PATH", help="also write the Markdown table here")
    args = parser.parse_args()
    out_dir = Path(tempfile.mkdtemp(prefix="firstline-bench-"))
    results = {name: run_one(name, args.quick, out_dir) for name in (args.only or BENCHMARKS)}
    text = markdown(results, args.quick)
    print("\n" + text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps({n: [f.__dict__ for f in r[0]] for n, r in results.items()}, indent=2)
        )
    sys.exit(1 if any(err for _, err in results.values()) else 0)


if __name__ == "__main__":
    main()
