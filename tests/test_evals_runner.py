"""`firstline eval` end to end: real loop, real runbook model, replayed cases, reports on disk.

The only stand-in is a paid model API (tests/fake_openai.py, an OpenAI-compatible server on 127.0.0.1)
for the model-comparison and LLM-judge tests.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from assistant.config import Settings
from evals.format import load_cases
from evals.judge import judge, parse_verdict
from evals.runner import run_cli

CASES = Path(__file__).resolve().parent.parent / "evals" / "cases"
PASSING = ["nginx-orphan-port-80", "healthy-web-host-after-flap"]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def suite(tmp_path) -> Path:
    d = tmp_path / "cases"
    d.mkdir()
    for name in PASSING:
        shutil.copy(CASES / f"{name}.yaml", d / f"{name}.yaml")
    return d


def _break(path: Path) -> None:
    """Make a case expect a root cause nobody would find, so it fails for a known reason."""
    text = path.read_text()
    path.write_text(
        text.replace("root_cause: ['port 80|:80', node|legacy]", "root_cause: [cosmic ray bit flip]")
    )


def test_json_and_junit_reports(suite, tmp_path, settings):
    failing = suite / "broken.yaml"
    shutil.copy(CASES / "nginx-orphan-port-80.yaml", failing)
    failing.write_text(failing.read_text().replace("id: nginx-orphan-port-80", "id: broken-copy"))
    _break(failing)
    out_json, out_xml = tmp_path / "r" / "report.json", tmp_path / "r" / "junit.xml"
    code = run_cli(
        [str(suite)], ["firstline/runbook"], None, 1, out_json, out_xml, None, 0.0, settings=settings
    )
    assert code == 0  # below 100% but min_pass defaults to 0
    report = json.loads(out_json.read_text())
    rows = {r["case"]: r for r in report["results"]}
    assert set(rows) == {"broken-copy", *PASSING}
    assert rows["nginx-orphan-port-80"]["passed"] and not rows["broken-copy"]["passed"]
    run = rows["nginx-orphan-port-80"]["runs"][0]
    assert run["tool_calls"] >= 2 and run["steps"] >= 2 and run["prompt_tokens"] > 0 and run["wall_s"] > 0
    assert any(c.startswith("port_owner(port=80") for c in run["calls"])
    assert rows["broken-copy"]["runs"][0]["failures"] == [
        "/cosmic ray bit flip/ matches neither the answer nor any finding"
    ]
    totals = report["totals"]["firstline/runbook"]
    assert (
        totals["cases"] == 3
        and totals["cases_passed"] == 2
        and totals["pass_rate"] == pytest.approx(2 / 3, 1e-3)
    )
    assert totals["no_fault_runs"] == 1 and totals["false_positive_rate"] == 0.0

    root = ET.parse(out_xml).getroot()
    assert root.tag == "testsuites"
    (ts,) = root.findall("testsuite")
    assert (ts.get("tests"), ts.get("failures"), ts.get("errors")) == ("3", "1", "0")
    cases = {tc.get("name"): tc for tc in ts.findall("testcase")}
    assert set(cases) == {"broken-copy", *PASSING}
    failure = cases["broken-copy"].find("failure")
    assert failure is not None and "cosmic ray bit flip" in failure.get("message")
    assert cases["nginx-orphan-port-80"].find("failure") is None
    assert "port_owner" in cases["nginx-orphan-port-80"].find("system-out").text


def test_min_pass_and_baseline_regressions(suite, tmp_path, settings):
    base = tmp_path / "base.json"
    assert run_cli([str(suite)], ["firstline/runbook"], json_path=base, min_pass=1.0, settings=settings) == 0
    _break(suite / "nginx-orphan-port-80.yaml")
    assert run_cli([str(suite)], ["firstline/runbook"], min_pass=0.9, settings=settings) == 1
    now = tmp_path / "now.json"
    assert run_cli([str(suite)], ["firstline/runbook"], json_path=now, baseline=base, settings=settings) == 1
    assert json.loads(now.read_text())["regressions"] == [
        {"model": "firstline/runbook", "case": "nginx-orphan-port-80", "pass_rate": "0.00"}
    ]
    # Failing in the baseline too is not a regression.
    assert run_cli([str(suite)], ["firstline/runbook"], baseline=now, settings=settings) == 0
    bogus = tmp_path / "bogus.json"
    bogus.write_text("{not json")
    assert run_cli([str(suite)], ["firstline/runbook"], baseline=bogus, settings=settings) == 2


def test_invalid_case_is_reported_and_the_rest_runs(suite, tmp_path, settings, capsys):
    (suite / "bad.yaml").write_text(
        "format: firstline-session/1\nid: bad\nturns: [hi]\ntools: []\n"
        "expect: {root_cause: [x], max_tool_calls: many}\n"
    )
    out_xml, out_json = tmp_path / "j.xml", tmp_path / "j.json"
    code = run_cli(
        [str(suite)], ["firstline/runbook"], junit_path=out_xml, json_path=out_json, settings=settings
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert "bad.yaml: expect.max_tool_calls:" in printed
    report = json.loads(out_json.read_text())
    assert {r["case"] for r in report["results"]} == set(PASSING)
    assert report["load_errors"][0]["field"] == "expect.max_tool_calls"
    load_suite = [s for s in ET.parse(out_xml).getroot() if s.get("name") == "firstline-eval[case files]"]
    assert load_suite and load_suite[0].get("errors") == "1"
    assert run_cli([str(tmp_path / "nothing-here")], ["firstline/runbook"], settings=settings) == 2


def test_repeat_gives_a_pass_rate_per_case(suite, tmp_path, settings):
    out = tmp_path / "r.json"
    run_cli(
        [str(suite / "nginx-orphan-port-80.yaml")],
        ["firstline/runbook"],
        repeat=2,
        json_path=out,
        settings=settings,
    )
    (row,) = json.loads(out.read_text())["results"]
    assert len(row["runs"]) == 2 and row["pass_rate"] == 1.0
    assert json.loads(out.read_text())["totals"]["firstline/runbook"]["runs"] == 2


def test_model_comparison_and_judge(suite, tmp_path, settings, monkeypatch, capsys):
    answer = "**Root cause**: nothing conclusive; no fault found in what I could check."
    verdict = '{"score": 2, "reason": "Says no fault while nginx is down."}'
    with FakeOpenAI([{"text": answer}], delay_s=0, whole_text=verdict) as fake:
        monkeypatch.setenv("OPENAI_API_BASE", fake.api_base)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
        out = tmp_path / "cmp.json"
        code = run_cli(
            [str(suite)],
            ["firstline/runbook", "openai/fake-model"],
            "openai/fake-judge",
            json_path=out,
            settings=settings,
        )
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["totals"]) == {"firstline/runbook", "openai/fake-model"}
    rows = {(r["model"], r["case"]): r for r in report["results"]}
    fake_nginx = rows[("openai/fake-model", "nginx-orphan-port-80")]["runs"][0]
    assert not rows[("openai/fake-model", "nginx-orphan-port-80")]["passed"]
    assert fake_nginx["answer"] == answer and fake_nginx["tool_calls"] == 0
    assert rows[("openai/fake-model", "healthy-web-host-after-flap")]["passed"]  # says "no fault found"
    assert fake_nginx["judge_score"] == 2 and "nginx is down" in fake_nginx["judge_reason"]
    assert report["totals"]["openai/fake-model"]["judge_mean"] == 2.0
    judged = [r for r in fake.requests if not r.get("stream")]
    assert len(judged) == 4  # 2 cases with a summary x 2 models
    prompt = judged[0]["messages"][0]["content"]
    assert "Rubric (score 0-5)" in prompt and "<answer>" in prompt
    printed = capsys.readouterr().out
    assert "Model comparison" in printed and "openai/fake-model" in printed


async def test_judge_prompt_carries_summary_and_answer_and_survives_outages(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key-not-secret")
    case = next(c for c in load_cases([CASES / "nginx-orphan-port-80.yaml"]).cases)
    with FakeOpenAI(
        [{"text": ""}],
        delay_s=0,
        whole_text='Some preamble.\n{"score": 5, "reason": "Same cause, quotes evidence."}',
    ) as fake:
        v = await judge("openai/judge", case, "Port 80 is held by node pid 1873.", api_base=fake.api_base)
        sent = fake.requests[0]["messages"][0]["content"]
    assert (v.score, v.reason) == (5, "Same cause, quotes evidence.")
    assert case.expect.summary.split()[0] in sent and "Port 80 is held by node pid 1873." in sent
    assert "Since the 02:00 deploy" in sent  # the engineer's words
    down = await judge("openai/judge", case, "x", api_base="http://127.0.0.1:9/v1", timeout_s=5)
    assert down.score is None and down.reason.startswith("judge call failed")
    assert parse_verdict("score: 3 because ...").score == 3
    assert parse_verdict("I cannot grade this").score is None


def test_worker_processes_give_the_same_results_as_one_process(suite, tmp_path, settings):
    shutil.copy(CASES / "redis-oom-killed-by-batch-job.yaml", suite / "redis.yaml")
    _break(suite / "nginx-orphan-port-80.yaml")  # one failing case: failures must come back from workers too
    reports = {}
    for jobs in (1, 3):
        out = tmp_path / f"jobs{jobs}.json"
        assert (
            run_cli(
                [str(suite)], ["firstline/runbook"], repeat=2, json_path=out, settings=settings, jobs=jobs
            )
            == 0
        )
        reports[jobs] = json.loads(out.read_text())

    def summary(report):
        return [
            (r["case"], r["passed"], [(x["passed"], x["calls"], x["prompt_tokens"] > 0) for x in r["runs"]])
            for r in report["results"]
        ]

    assert summary(reports[3]) == summary(reports[1])
    assert reports[3]["totals"]["firstline/runbook"]["runs"] == 6
    assert not {r["case"]: r for r in reports[3]["results"]}["nginx-orphan-port-80"]["passed"]


def test_default_worker_count():
    from evals.workers import MAX_JOBS, default_jobs

    assert default_jobs(3) == 1  # too few runs to be worth a process
    assert 1 <= default_jobs(1000) <= MAX_JOBS


def test_a_killed_worker_fails_its_cases_with_a_reason(suite, settings):
    import os
    import signal

    from evals.workers import SuiteWorkers

    cases = load_cases([str(suite)]).cases
    # 25 runs per case: the first worker is still busy when it is killed, even on a fast, quiet machine where
    # one run ends before the second worker's fork does (a worker reports its share's results at the end).
    workers = SuiteWorkers(
        cases, ["firstline/runbook"], settings, repeat=25, judge=None, concurrency=2, jobs=2
    )
    os.kill(workers.procs[0].pid, signal.SIGKILL)
    results = workers.collect()["firstline/runbook"]
    assert [r.case for r in results] == [c.id for c in cases]
    killed = results[0].runs[0]  # the first worker had the first case
    assert not killed.passed and "eval worker process died" in killed.error and "-9" in killed.error
    assert results[1].runs[0].error is None  # the other worker finished its case
