"""mypy with a baseline that only shrinks: new errors fail CI, fixed ones must be removed from the baseline.

Errors are compared without line numbers (file, error code, message), so unrelated edits that move code
do not count as new. `--update` rewrites the baseline from the current code (after fixing errors, or once
when adopting a stricter setting).
"""

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "mypy-baseline.txt"
LINE = re.compile(r"^(?P<file>[^:]+):\d+(?::\d+)?: error: (?P<msg>.*?)\s+\[(?P<code>[a-z-]+)\]$")


def current() -> Counter[str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            "--show-error-codes",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode not in (0, 1) or ("error: " not in proc.stdout and proc.returncode == 1):
        sys.exit(f"mypy could not run:\n{proc.stdout}\n{proc.stderr}")
    errors: Counter[str] = Counter()
    for line in proc.stdout.splitlines():
        m = LINE.match(line)
        if m:
            errors[f"{m['file']}: [{m['code']}] {m['msg']}"] += 1
    return errors


def main() -> int:
    now = current()
    if "--update" in sys.argv:
        BASELINE.write_text("".join(f"{k}\n" for k in sorted(now.elements())), encoding="utf-8")
        print(f"mypy baseline: {sum(now.values())} known errors written to {BASELINE.relative_to(ROOT)}")
        return 0
    known = Counter(BASELINE.read_text(encoding="utf-8").splitlines()) if BASELINE.exists() else Counter()
    new, fixed = now - known, known - now
    for key in sorted(new.elements()):
        print(f"NEW  {key}")
    print(
        f"mypy: {sum(now.values())} errors, {sum(known.values())} in the baseline, {sum(new.values())} new, "
        f"{sum(fixed.values())} fixed"
    )
    if fixed:
        print(
            "fixed errors are still listed in .ci/mypy-baseline.txt: run `python .ci/mypy_baseline.py --update` "
            "so the baseline only shrinks"
        )
    return 1 if new or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
