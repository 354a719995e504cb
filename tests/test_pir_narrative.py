"""Narrative sections drafted by a real model path: litellm over HTTP to a stand-in OpenAI server.

The investigation and the PIR use the same model name ("openai/fake-sre"), as a team with
a hosted model would; the PIR's request goes to a second stand-in whose only answer is
the narrative under test, so the test sees exactly what the model was sent.
"""

from __future__ import annotations

import json

import pytest
from fake_openai import FakeOpenAI
from pir_sessions import SECRETS, run_session

from assistant import store
from assistant.config import Settings
from assistant.pir import service
from assistant.pir.words import assess_severity, impact_of

REPORT = "shop.example.com returns 503 for some users since 03:00; password=hunter2hunter2 was in the alert"
NARRATIVE = {
    "summary": "nginx on web-prod-01 could not bind port 80: an orphaned node process held it (F1, [out-1]).",
    "leadup": ["The 03:00 deploy installed nginx while the legacy app still ran (reporter)."],
    "five_whys": [
        {"why": "Why 503?", "because": "nginx was down (F2).", "refs": ["out-1"]},
        {"why": "Why was nginx down?", "because": "TODO(owner): confirm the deploy order."},
    ],
    "went_well": ["The bind error was in the first command's output [out-1]."],
    "went_poorly": ["The deploy ignored nginx's failed start."],
    "lucky": ["TODO(owner): where did we get lucky?"],
    "lessons": ["Deploys must verify the ports they need are free."],
    "action_items": [
        {
            "title": "Pre-flight check that port 80 is free before starting nginx",
            "priority": "prevent",
            "owner": "alice",
            "due": "tomorrow",
            "refs": ["F1"],
        },
        {"title": "Alert when nginx.service is failed", "priority": "detect"},
    ],
}


@pytest.fixture
async def investigated(tmp_path, db_url, engine):
    with FakeOpenAI(delay_s=0.0) as investigator:
        settings = Settings(
            home=tmp_path / "home",
            database_url=db_url,
            model="openai/fake-sre",
            api_base=investigator.api_base,
            model_retries=0,
            model_options={"api_key": "sk-fake"},
        )
        sid = await run_session(settings, engine, [REPORT], target="sandbox:nginx-port-conflict")
    return settings, sid


async def pir_with_answer(settings: Settings, engine, sid: str, text: str) -> tuple[str, dict, list[dict]]:
    with FakeOpenAI([{"text": text}], delay_s=0.0) as writer:
        row = await service.regenerate(settings.model_copy(update={"api_base": writer.api_base}), engine, sid)
        return row.markdown, row.data, writer.requests


async def test_a_valid_model_answer_becomes_the_narrative(investigated, engine):
    settings, sid = investigated
    markdown, data, requests = await pir_with_answer(
        settings, engine, sid, "```json\n" + json.dumps(NARRATIVE) + "\n```"
    )
    assert data["narrative"]["source"] == data["meta"]["narrative_source"] == "openai/fake-sre"
    assert NARRATIVE["summary"] in markdown
    assert "Deploys must verify the ports they need are free." in markdown
    title = "Pre-flight check that port 80 is free before starting nginx"
    # a model never assigns owners or dates
    assert f"| prevent | {title} | TODO(owner) | TODO(due date)" in markdown
    assert "drafted by `openai/fake-sre` and validated" in markdown
    (request,) = requests
    prompt = "\n".join(m["content"] for m in request["messages"])
    with store.reading(engine) as db:
        findings = store.list_findings(db, session_id=sid)
        calls = store.list_tool_calls(db, session_id=sid)
    assert findings and all(line in prompt for f in findings for ev in f.evidence for line in ev["lines"])
    assert all(c.command in prompt for c in calls) and "[out-1]" in prompt
    assert request["model"] == "fake-sre" and "tools" not in request
    for secret in SECRETS:
        assert secret not in prompt and secret not in markdown


GARBAGE = [
    ("Sure! Here is a great PIR for you.", "no JSON object"),
    ('{"summary": "x", "five_whys": [], "action_items": []}', "five_whys"),
    (
        json.dumps({**NARRATIVE, "action_items": [{"title": "Fix it", "priority": "urgent"}]}),
        "action_items.0.priority",
    ),
    ('{"summary": "unterminated', "no JSON object"),
]


async def test_garbage_falls_back_to_rules_and_says_why(investigated, engine):
    settings, sid = investigated
    for answer, reason in GARBAGE:
        markdown, data, _ = await pir_with_answer(settings, engine, sid, answer)
        assert data["narrative"]["source"] == "rules", answer
        assert "answer was rejected" in data["narrative"]["note"] and reason in data["narrative"]["note"]
        assert "Narrative sections: rules over the findings" in markdown
        assert "TODO(owner): where did we get lucky?" in markdown and answer[:30] not in markdown


async def test_a_narrative_that_contradicts_its_evidence_is_replaced_by_the_rules(investigated, engine):
    """The model path is held to the same consistency check as the rules draft."""
    settings, sid = investigated
    with store.reading(engine) as db:
        calls = store.list_tool_calls(db, session_id=sid)
    faulty = next(n for n, c in enumerate(calls, start=1) if "Address already in use" in (c.output or ""))
    wrong = dict(NARRATIVE, summary=f"nginx was healthy, nothing abnormal in its status [out-{faulty}].")
    markdown, data, _requests = await pir_with_answer(settings, engine, sid, json.dumps(wrong))
    assert data["narrative"]["source"] == "rules"
    assert (
        "contradicted its evidence" in data["narrative"]["note"]
        and f"out-{faulty}" in data["narrative"]["note"]
    )
    assert "## Summary\n\nThe engineer reported" in markdown  # the rules summary, not the model's


async def test_an_unreachable_provider_falls_back_to_rules(investigated, engine):
    settings, sid = investigated
    with FakeOpenAI() as gone:
        dead = gone.api_base
    down = settings.model_copy(update={"api_base": dead, "model_timeout_s": 5.0})
    row = await service.regenerate(down, engine, sid)
    assert row.model == "rules" and "the call to openai/fake-sre failed" in row.data["narrative"]["note"]
    assert "## Five whys" in row.markdown


@pytest.mark.parametrize(
    "words, level, impact, urgency",
    [
        (["the site is down for all customers"], "SEV1", "high", "high"),
        (["503 for everyone on checkout"], "SEV1", "high", "high"),
        # one phrase never justifies both: "503" is the urgency; who is affected is not said (assumed medium)
        (["shop.example.com returns 503 since the deploy"], "SEV2", "unknown", "high"),
        (["some users say pages are slow"], "SEV3", "medium", "medium"),
        (
            ["staging env is a bit slow, no customer impact"],
            "SEV4",
            "low",
            "medium",
        ),  # impact: no customer impact
        (["can you look at web-prod-01?"], "unknown", "unknown", "unknown"),
    ],
)
def test_severity_comes_from_impact_and_urgency_in_the_reporters_words(words, level, impact, urgency):
    sev = assess_severity(words)
    assert (sev.level, sev.impact, sev.urgency) == (level, impact, urgency)
    assert all(any(r.split("“")[1].rstrip("”").lower() in w.lower() for w in words) for r in sev.reasons)


def test_impact_quotes_only_what_was_said():
    impact = impact_of(
        ["Some users get 502 errors on https://shop.example.com/cart since 14:05 UTC after the release"]
    )
    assert impact.who == ["Some users"] and "since 14:05 UTC" in impact.since[0]
    assert "https://shop.example.com/cart" in impact.mentioned
    assert impact_of(["hello"]).model_dump() == {"who": [], "what": [], "since": [], "mentioned": []}
