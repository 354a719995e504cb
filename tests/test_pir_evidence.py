"""A PIR never contradicts its evidence, and its incident timeline runs on the evidence's clock.

Every shipped case (replayed through the loop with the offline model) and every sandbox scenario
(investigated through the turn driver) is stored in one SQLite file and drafted, exactly as
`firstline pir` does; then each draft is checked claim by claim against the outputs it cites.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from answer_corpus import Stored, built, investigate

from assistant import store
from assistant.config import Settings
from assistant.pir import service
from assistant.pir.clock import stamp, year_hint
from assistant.pir.consistency import contradictions
from assistant.pir.data import gather
from assistant.pir.derive import derive
from assistant.pir.fmt import clip
from assistant.pir.models import ActionItem, Narrative, WhyStep
from assistant.pir.narrative import draft_narrative


@pytest.fixture(scope="module")
def corpus() -> tuple[Settings, object, list[tuple[Stored, dict, str]]]:
    """Every case and scenario (with the follow-up set) stored once, then drafted as `firstline pir` does."""
    settings, engine, items = built()

    async def draft() -> list[tuple[Stored, dict, str]]:
        return [
            (item, row.data, row.markdown)
            for item in items
            for row in [await service.regenerate(settings, engine, item.session_id)]
        ]

    return settings, engine, asyncio.run(draft())


def test_no_pir_of_a_shipped_case_or_sandbox_scenario_contradicts_its_evidence(corpus):
    _settings, engine, drafted = corpus
    assert len(drafted) >= 40
    problems = {}
    for item, data, _md in drafted:
        facts = gather(engine, item.session_id)
        d = derive(facts)
        found = contradictions(facts, d, Narrative.model_validate(data["narrative"]))
        if found:
            problems[item.name] = [str(c) for c in found]
    assert problems == {}


def test_a_repeated_fault_is_never_ruled_out(corpus):
    """Regression (issue 18): 'disk space exhausted … df showed nothing abnormal [out-6]' while out-6 said /var 100%."""
    _settings, engine, drafted = corpus
    checked = 0
    for item, data, _md in drafted:
        facts = gather(engine, item.session_id)
        by_ref = {c.ref: c for c in facts.commands}
        for line in data["derived"]["ruled_out"]:
            for ref in re.findall(r"out-\d+", line):
                checked += 1
                assert by_ref[ref].abnormal == [], (item.name, line)
        repeats = [s for s in data["derived"]["steps"] if s["outcome"] == "repeat"]
        assert all(s["abnormal"] for s in repeats)
    assert checked > 0


def test_incident_timeline_uses_the_times_written_in_the_evidence(corpus):
    _settings, engine, drafted = corpus
    timed = 0
    for item, data, markdown in drafted:
        facts = gather(engine, item.session_id)
        outputs = facts.outputs()
        chat_times = {c.started_at for c in facts.commands}
        for e in data["derived"]["incident"]["events"]:
            if e["kind"] == "mitigation" and not e["text"].startswith("Nov"):
                continue
            text = outputs[e["ref"]]
            line = next(
                ln for ln in text.splitlines() if " ".join(ln.split()).startswith(e["text"].rstrip("…"))
            )
            cmd = next(c for c in facts.commands if c.ref == e["ref"])
            st = stamp(
                line, year_hint(text) or year_hint("\n".join(outputs.values())) or 2026, cmd.started_at
            )
            assert st is not None and st.at.isoformat() == e["at"].replace("Z", "+00:00"), (item.name, line)
            assert e["approx"] or st.at not in chat_times
            timed += 1
        metrics = section(markdown, "Detection and resolution metrics")
        assert not re.search(r"\|\s*\d+(?:\.\d)?s\s*\|", metrics) or data["derived"]["incident"]["events"], (
            item.name
        )
    assert timed >= 40


def test_metrics_never_use_chat_seconds_and_say_todo_when_unknown(corpus):
    _settings, _engine, drafted = corpus
    for item, data, markdown in drafted:
        m = data["derived"]["incident"]["metrics"]
        metrics = section(markdown, "Detection and resolution metrics")
        for name, key in (("Time to mitigate", "mitigated_at"), ("Time to resolve", "resolved_at")):
            row = next(ln for ln in metrics.splitlines() if ln.startswith(f"| {name} |"))
            assert ("TODO(owner)" in row) == (m[key] is None), (item.name, row)
        assert "Time to diagnosis" not in markdown and "first report → " not in markdown


def test_no_title_is_cut_mid_word(corpus):
    _settings, _engine, drafted = corpus
    for item, data, markdown in drafted:
        title = data["meta"]["title"]
        first = next(s["text"] for s in data["facts"]["said"] if s["role"] == "user")
        flat = " ".join(first.split())
        if title.endswith("…"):
            kept = title[:-1]
            assert flat.startswith(kept) and flat[len(kept)] in " ,;:-–—", (item.name, title)
        assert markdown.startswith("# Post-incident review: ")


def test_severity_is_justified_by_different_phrases_and_action_items_do_not_repeat(corpus):
    _settings, _engine, drafted = corpus
    for item, data, _md in drafted:
        reasons = [r.split(": ", 1)[1] for r in data["meta"]["severity"]["reasons"]]
        assert len(reasons) == len(set(reasons)), (item.name, reasons)
        items = data["narrative"]["action_items"]
        titles = [a["title"].lower() for a in items]
        assert len(titles) == len(set(titles)), item.name
        detects = [tuple(a["refs"]) for a in items if a["priority"] == "detect"]
        assert len(detects) == len(set(detects)), item.name


def test_five_whys_follow_the_evidence_past_the_findings(corpus):
    """Regression (issue 18): the whys stopped at TODO while `ps` showed --log-level=DEBUG."""
    _settings, _engine, drafted = corpus
    disk = next(data for item, data, _md in drafted if item.name == "disk-full")
    becauses = " ".join(w["because"] for w in disk["narrative"]["five_whys"])
    assert "level=DEBUG" in becauses
    assert disk["narrative"]["five_whys"][-1]["because"].startswith("TODO(owner)")
    leadup = " ".join(disk["narrative"]["leadup"])
    assert "level=DEBUG" in leadup and "[out-" in leadup


def section(markdown: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert m, title
    return m.group(1)


async def test_the_check_finds_a_clean_claim_about_a_faulty_output(tmp_path):
    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'x.db'}", model="firstline/runbook"
    )
    engine = store.open_store(settings.db_url)
    item = await investigate(settings, engine, "disk-full", ["ingest-worker on ingest-prod-02 returns 500"])
    facts = gather(engine, item.session_id)
    d = derive(facts)
    faulty = next(c for c in facts.commands if "disk-full" in c.abnormal and c.tool == "disk_usage")
    bad = d.model_copy(
        update={"ruled_out": [f"disk space exhausted — `df` showed nothing abnormal [{faulty.ref}]"]}
    )
    narrative = await draft_narrative(facts, d, settings, "firstline/runbook")
    assert contradictions(facts, d, narrative) == []
    found = contradictions(facts, bad, narrative)
    assert [c.ref for c in found] == [faulty.ref] and "disk-full" in found[0].why
    invented = narrative.model_copy(
        update={
            "five_whys": [
                WhyStep(why="Why?", because=f"[{faulty.ref}] shows `everything is perfectly fine here`.")
            ],
            "action_items": [ActionItem(title="Nothing to do, F99 [out-999]", priority="prevent")],
        }
    )
    whys = {c.why for c in contradictions(facts, d, invented)}
    assert any("does not contain" in w for w in whys) and "no such output in the command trail" in whys
    assert "no such finding" in whys
    engine.dispose()


def test_clip_never_cuts_a_word():
    assert clip("POST /v1/events returns 500", 20) == "POST /v1/events…"
    assert clip("short", 20) == "short"


async def test_a_fix_that_ran_is_named_in_full_and_measured_on_the_targets_clock(tmp_path):
    """Both approved actions appear in the summary; mitigation and recovery come from the outputs' times."""
    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'x.db'}", model="firstline/runbook"
    )
    engine = store.open_store(settings.db_url)

    async def approve(request):
        from assistant.events import ApprovalDecided

        return ApprovalDecided(approval_id=request.approval_id, decision="approve", by="alice")

    item = await investigate(
        settings,
        engine,
        "nginx-port-conflict",
        ["shop.example.com returns 503; nginx on web-prod-01 will not start", "go ahead"],
        approver=approve,
    )
    row = await service.regenerate(settings, engine, item.session_id)
    executed = row.data["derived"]["executed"]
    assert len(executed) >= 2
    summary = row.data["narrative"]["summary"]
    assert all(line.split(" on ")[0] in summary for line in executed)
    m = row.data["derived"]["incident"]["metrics"]
    facts = gather(engine, item.session_id)
    chat = {c.started_at.isoformat() for c in facts.commands}
    assert m["started_at"] and m["started_at"].startswith("2026-11-20")
    for key in ("mitigated_at", "resolved_at"):
        if m[key] is not None:
            assert m[key] not in chat and m[key] >= m["started_at"]
    assert m["resolved_at"] is not None, m["basis"]
    engine.dispose()
