"""What an eval run produced: per run, per case, per model totals, and baseline comparison.

These models are also the `--json` report, so a later run can read an earlier one
back as its baseline.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from pydantic import BaseModel, Field

from evals.score import Check

REPORT_FORMAT = "firstline-eval-report/1"


class RunResult(BaseModel):
    """One run of one case with one model."""

    passed: bool
    checks: list[Check] = Field(default_factory=list)
    tool_calls: int = 0
    unrecorded: list[str] = Field(default_factory=list)
    approvals_denied: int = 0
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    wall_s: float = 0.0
    answer: str = ""
    calls: list[str] = Field(default_factory=list)
    """Every tool call as `tool(k=v)`, in order (what the model asked for)."""
    judge_score: int | None = None
    judge_reason: str | None = None
    error: str | None = None
    """The run itself broke (loop crashed, model unreachable): not a wrong answer, a failed run."""

    @property
    def failures(self) -> list[str]:
        return [c.detail or c.name for c in self.checks if not c.passed] + (
            [self.error] if self.error else []
        )


class CaseResult(BaseModel):
    case: str
    model: str
    title: str = ""
    path: str | None = None
    tags: list[str] = Field(default_factory=list)
    no_fault: bool = False
    runs: list[RunResult] = Field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return sum(r.passed for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def passed(self) -> bool:
        """A case passes when at least half its runs pass (with --repeat 1: when its run passes)."""
        return bool(self.runs) and self.pass_rate >= 0.5

    def mean(self, attr: str) -> float:
        return mean(getattr(r, attr) for r in self.runs) if self.runs else 0.0

    def to_json(self) -> dict[str, Any]:
        runs = [{**r.model_dump(mode="json"), "failures": r.failures} for r in self.runs]
        return {
            **self.model_dump(mode="json", exclude={"runs"}),
            "passed": self.passed,
            "pass_rate": round(self.pass_rate, 4),
            "runs": runs,
        }


def _false_positive(run: RunResult) -> bool:
    return any(c.name == "no_fault" and not c.passed for c in run.checks)


def totals(cases: list[CaseResult]) -> dict[str, Any]:
    """Suite totals for one model's results."""
    runs = [r for c in cases for r in c.runs]
    nf_runs = [r for c in cases if c.no_fault for r in c.runs]
    costs = [r.cost_usd for r in runs if r.cost_usd is not None]
    judged = [r.judge_score for r in runs if r.judge_score is not None]
    return {
        "cases": len(cases),
        "cases_passed": sum(c.passed for c in cases),
        "runs": len(runs),
        "runs_passed": sum(r.passed for r in runs),
        "pass_rate": round(sum(r.passed for r in runs) / len(runs), 4) if runs else 0.0,
        "no_fault_runs": len(nf_runs),
        "false_positive_rate": round(sum(map(_false_positive, nf_runs)) / len(nf_runs), 4)
        if nf_runs
        else None,
        "mean_tool_calls": round(mean(r.tool_calls for r in runs), 2) if runs else 0.0,
        "unrecorded_calls": sum(len(r.unrecorded) for r in runs),
        "prompt_tokens": sum(r.prompt_tokens for r in runs),
        "completion_tokens": sum(r.completion_tokens for r in runs),
        "cost_usd": round(sum(costs), 6) if costs else None,
        "wall_s": round(sum(r.wall_s for r in runs), 3),
        "judge_mean": round(mean(judged), 2) if judged else None,
    }


def build_report(
    results: dict[str, list[CaseResult]],
    *,
    meta: dict[str, Any],
    load_errors: list[dict[str, str]],
    regressions: list[dict[str, str]],
) -> dict[str, Any]:
    """The `--json` document: per-case details and per-model totals."""
    return {
        "format": REPORT_FORMAT,
        **meta,
        "load_errors": load_errors,
        "results": [c.to_json() for cases in results.values() for c in cases],
        "totals": {model: totals(cases) for model, cases in results.items()},
        "regressions": regressions,
    }


def baseline_passes(report: dict[str, Any]) -> dict[str, dict[str, bool]]:
    """model -> case id -> passed, from an earlier `--json` report."""
    out: dict[str, dict[str, bool]] = {}
    for row in report.get("results", []):
        out.setdefault(str(row.get("model")), {})[str(row.get("case"))] = bool(row.get("passed"))
    return out


def find_regressions(results: dict[str, list[CaseResult]], baseline: dict[str, Any]) -> list[dict[str, str]]:
    """Cases that passed in the baseline and fail now, per model.

    A model missing from the baseline is compared with the baseline's only model when it
    has exactly one (e.g. a baseline made with a different model name), else skipped.
    """
    passes = baseline_passes(baseline)
    found = []
    for model, cases in results.items():
        before = passes.get(model)
        if before is None and len(passes) == 1:
            before = next(iter(passes.values()))
        for c in cases:
            if before and before.get(c.case) and not c.passed:
                found.append({"model": model, "case": c.case, "pass_rate": f"{c.pass_rate:.2f}"})
    return found
