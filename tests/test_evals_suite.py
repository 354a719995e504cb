"""The shipped eval suite (evals/cases) with the default offline model, as CI runs it.

CI's gate is `firstline eval evals/cases --min-pass 0.9`; this is the same run in-process,
with a failure message that names every failing case and why.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.config import DEFAULT_MODEL, Settings
from evals.runner import run_cli

CASES = Path(__file__).resolve().parent.parent / "evals" / "cases"


def test_shipped_suite_passes_with_the_default_model(tmp_path):
    out = tmp_path / "suite.json"
    code = run_cli(
        [str(CASES)], [DEFAULT_MODEL], json_path=out, min_pass=0.9, settings=Settings(home=tmp_path)
    )
    report = json.loads(out.read_text())
    totals = report["totals"][DEFAULT_MODEL]
    failing = [
        f"{r['case']}: {'; '.join(r['runs'][0]['failures'])}" for r in report["results"] if not r["passed"]
    ]
    assert report["load_errors"] == []
    assert totals["pass_rate"] >= 0.9, f"pass rate {totals['pass_rate']:.0%}; failing:\n" + "\n".join(failing)
    assert totals["false_positive_rate"] == 0.0
    assert code == 0
