"""Showing eval results: a terminal table, a side-by-side model comparison, JSON and JUnit XML.

JUnit is what CI systems (GitHub Actions, GitLab, Jenkins) render natively, so each
case becomes a testcase whose failure message names the expectation that failed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.format import CaseError
from evals.results import CaseResult, totals


def _verdict(c: CaseResult, repeat: int) -> str:
    if repeat > 1:
        colour = "green" if c.passed else "red"
        return f"[{colour}]{c.pass_rate:.0%}[/]"
    return "[green]PASS[/]" if c.passed else "[red]FAIL[/]"


def _first_failure(c: CaseResult) -> str:
    for run in c.runs:
        if run.failures:
            return run.failures[0]
    return ""


def _money(v: float | None) -> str:
    return "-" if v is None else f"${v:.4f}"


def case_table(model: str, cases: list[CaseResult], repeat: int) -> Table:
    """One model: a row per case with what failed and what it cost."""
    table = Table(title=f"Eval results: {model}", show_lines=False)
    for col in (
        "case",
        "result",
        "failed expectation",
        "calls",
        "unrec",
        "steps",
        "tokens in/out",
        "cost",
        "wall",
    ):
        table.add_column(
            col, overflow="fold", justify="right" if col in ("calls", "unrec", "steps") else "left"
        )
    for c in cases:
        judge = [r.judge_score for r in c.runs if r.judge_score is not None]
        verdict = _verdict(c, repeat) + (f" j{sum(judge) / len(judge):.1f}" if judge else "")
        table.add_row(
            c.case,
            verdict,
            _first_failure(c)[:90],
            f"{c.mean('tool_calls'):g}",
            f"{sum(len(r.unrecorded) for r in c.runs)}",
            f"{c.mean('steps'):g}",
            f"{int(c.mean('prompt_tokens'))}/{int(c.mean('completion_tokens'))}",
            _money(
                sum(r.cost_usd for r in c.runs if r.cost_usd is not None)
                if any(r.cost_usd is not None for r in c.runs)
                else None
            ),
            f"{c.mean('wall_s'):.2f}s",
        )
    return table


def totals_table(results: dict[str, list[CaseResult]]) -> Table:
    table = Table(title="Totals")
    for col in (
        "model",
        "pass rate",
        "cases passed",
        "false positives",
        "mean calls",
        "unrecorded",
        "tokens in/out",
        "cost",
        "judge",
        "wall",
    ):
        table.add_column(col)
    for model, cases in results.items():
        t = totals(cases)
        fp = (
            "-"
            if t["false_positive_rate"] is None
            else f"{t['false_positive_rate']:.0%} of {t['no_fault_runs']}"
        )
        table.add_row(
            model,
            f"{t['pass_rate']:.1%}",
            f"{t['cases_passed']}/{t['cases']}",
            fp,
            f"{t['mean_tool_calls']:g}",
            str(t["unrecorded_calls"]),
            f"{t['prompt_tokens']}/{t['completion_tokens']}",
            _money(t["cost_usd"]),
            "-" if t["judge_mean"] is None else f"{t['judge_mean']:.2f}/5",
            f"{t['wall_s']:.1f}s",
        )
    return table


def comparison_table(results: dict[str, list[CaseResult]], repeat: int) -> Table:
    """Several models side by side: one row per case, one column per model."""
    table = Table(title="Model comparison")
    table.add_column("case")
    models = list(results)
    for m in models:
        table.add_column(m, overflow="fold")
    by_model = {m: {c.case: c for c in cases} for m, cases in results.items()}
    for case_id in dict.fromkeys(c.case for cases in results.values() for c in cases):
        cells = []
        for m in models:
            c = by_model[m].get(case_id)
            cells.append(
                "-"
                if c is None
                else f"{_verdict(c, repeat)} {c.mean('tool_calls'):g} calls {c.mean('wall_s'):.1f}s"
            )
        table.add_row(case_id, *cells)
    return table


def print_report(
    console: Console,
    results: dict[str, list[CaseResult]],
    repeat: int,
    load_errors: list[CaseError],
    regressions: list[dict[str, str]],
) -> None:
    if len(results) == 1:
        model, cases = next(iter(results.items()))
        console.print(case_table(model, cases, repeat))
    elif results:
        console.print(comparison_table(results, repeat))
    console.print(totals_table(results))
    for err in load_errors:
        console.print(f"[red]invalid case[/] {err}", highlight=False)
    for reg in regressions:
        console.print(
            f"[red]regression[/] {reg['case']} ({reg['model']}): passed in the baseline, "
            f"pass rate now {reg['pass_rate']}",
            highlight=False,
        )


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _safe(model: str) -> str:
    """CI viewers split classname on dots into packages; keep a model name one segment."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", model)


def _testcase(suite: ET.Element, c: CaseResult, model: str) -> None:
    wall = sum(r.wall_s for r in c.runs)
    tc = ET.SubElement(
        suite,
        "testcase",
        name=c.case,
        classname="firstline.eval." + _safe(model),
        time=f"{wall:.3f}",
        file=c.path or "",
    )
    if not c.passed:
        failures = [f"run {i + 1}: {'; '.join(r.failures)}" for i, r in enumerate(c.runs) if not r.passed]
        first = c.runs[0].failures[0] if c.runs and c.runs[0].failures else "failed"
        fail = ET.SubElement(tc, "failure", message=first[:500], type="ExpectationFailed")
        fail.text = f"pass rate {c.pass_rate:.0%}\n" + "\n".join(failures)
    out = ET.SubElement(tc, "system-out")
    out.text = "\n".join(f"calls: {', '.join(r.calls)}\nanswer:\n{r.answer}" for r in c.runs)


def junit_xml(results: dict[str, list[CaseResult]], load_errors: list[CaseError]) -> bytes:
    """A JUnit document: one testsuite per model, plus one for case files that failed to load."""
    root = ET.Element("testsuites", name="firstline-eval")
    for model, cases in results.items():
        t = totals(cases)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"firstline-eval[{model}]",
            tests=str(len(cases)),
            failures=str(len(cases) - t["cases_passed"]),
            errors="0",
            skipped="0",
            time=f"{t['wall_s']:.3f}",
        )
        for c in cases:
            _testcase(suite, c, model)
    by_file: dict[str, list[CaseError]] = {}
    for err in load_errors:
        by_file.setdefault(err.path, []).append(err)
    if by_file:
        suite = ET.SubElement(
            root,
            "testsuite",
            name="firstline-eval[case files]",
            tests=str(len(by_file)),
            failures="0",
            errors=str(len(by_file)),
            skipped="0",
            time="0",
        )
        for path, errs in by_file.items():
            tc = ET.SubElement(suite, "testcase", name=path, classname="firstline.eval.load", time="0")
            ET.SubElement(tc, "error", message=str(errs[0])[:500], type="InvalidCase").text = "\n".join(
                map(str, errs)
            )
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write_junit(path: Path, results: dict[str, list[CaseResult]], load_errors: list[CaseError]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(results, load_errors))
