"""The shipped eval suite (evals/cases) with the default offline model: CI's one eval gate.

This test is it (`.ci/run` runs the README's test command and no second `firstline eval
evals/cases --min-pass 0.9`); in-process, with a failure message that names every failing
case and why. It is `slow`: `pytest -m "not slow"` leaves it out, CI never does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.config import DEFAULT_MODEL, Settings
from evals.runner import run_cli

pytestmark = pytest.mark.slow  # the whole shipped eval suite, evals/cases (about 10 s)

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
