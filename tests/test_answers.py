"""What the engineer reads: the offline model's answers for every shipped case and sandbox scenario.

Each is investigated and then asked the follow-up set (why, what changed, roll back, is it fixed,
what else, the command), all stored like a real session. The properties are checked on every answer:
no raw output row inside a sentence, no promise without its content, no text meant for the model,
and each follow-up answered as asked, not by repeating the first answer.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from answer_corpus import FOLLOW_UPS, Stored, built, investigate

from assistant import store
from assistant.config import Settings
from assistant.events import ApprovalDecided, ApprovalRequired
from assistant.runbook.wording import flat, is_row, needle

INTERNAL = re.compile(
    r"do not retry|suggest another way|for the assistant|not shown to the engineer|"
    r"explain what the engineer can do|you are an? |as an ai\b|system prompt",
    re.IGNORECASE,
)
PROMISE = re.compile(r"\b(?:below|as follows|the following|here is what|here are the)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def corpus():
    _settings, engine, items = built()
    outputs = {}
    with store.reading(engine) as db:
        for item in items:
            outputs[item.name] = [
                c.output or "" for c in store.list_tool_calls(db, session_id=item.session_id)
            ]
    return items, outputs


def prose_lines(answer: str) -> list[str]:
    """Sentences of an answer: not list items (the Evidence list), not code blocks."""
    out, fenced = [], False
    for line in answer.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.strip() and not fenced and not re.match(r"\s*(?:[-*>]|\d+\.)\s", line):
            out.append(flat(line))
    return out


def test_no_tool_output_row_is_pasted_into_a_sentence(corpus):
    items, outputs = corpus
    pasted = []
    for item in items:
        rows = {flat(ln) for out in outputs[item.name] for ln in out.splitlines() if is_row(ln)}
        for answer in item.answers:
            for line in prose_lines(answer):
                hit = next((r for r in rows if needle(r) in line), None)
                if hit:
                    pasted.append((item.name, line[:120], hit[:60]))
    assert pasted == []


def test_every_promise_is_followed_by_its_content(corpus):
    items, _ = corpus
    empty = []
    for item in items:
        for answer in item.answers:
            for m in PROMISE.finditer(answer):
                rest = answer[m.end() :]
                if not re.search(r"^\s*(?:- |\d+\. |```)", rest, re.MULTILINE) and ": `" not in rest[:200]:
                    empty.append((item.name, answer[max(0, m.start() - 60) : m.end() + 40]))
    assert empty == []


def test_no_instruction_meant_for_the_model_reaches_an_answer(corpus):
    items, _ = corpus
    leaked = [(i.name, m.group(0)) for i in items for a in i.answers if (m := INTERNAL.search(a))]
    assert leaked == []


def _diagnosed(item: Stored) -> bool:
    return (
        bool(item.answers)
        and item.answers[0].startswith("**Root cause**")
        and "No fault" not in item.answers[0]
        and "Not determined" not in item.answers[0]
    )


def test_each_follow_up_is_answered_as_asked_not_by_repeating_the_first_answer(corpus):
    items, _ = corpus
    checked = 0
    for item in filter(_diagnosed, items):
        first, rest = item.answers[0], item.answers[-len(FOLLOW_UPS) :]  # a case may have turns of its own
        by_question = dict(zip(FOLLOW_UPS, rest, strict=True))
        for question, answer in by_question.items():
            assert answer.strip() != first.strip(), (item.name, question)
        assert len(set(by_question.values())) == len(FOLLOW_UPS), item.name
        assert by_question["why did this happen?"].startswith("**Why**")
        assert by_question["what changed?"].startswith("**What changed**")
        assert by_question["how do I roll back?"].startswith("**Rolling back**")
        assert re.match(
            r"\*\*(?:It looks fixed|Not fixed yet|Is it fixed\?)\*\*", by_question["is it fixed now?"]
        )
        assert by_question["what else could it be?"].startswith("**Other possibilities**")
        command = by_question["show me the command"]
        assert command.startswith("**The commands**") and "```sh\n" in command
        checked += 1
    assert checked >= 40


def test_only_is_it_fixed_runs_anything_again(tmp_path):
    """The other follow-ups reuse the evidence: no tool call in their turns."""
    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'x.db'}", model="firstline/runbook"
    )
    engine = store.open_store(settings.db_url)
    report = "The web rollout in namespace shop has been stuck since 14:09: the new pods never become ready."
    item = asyncio.run(
        investigate(
            settings,
            engine,
            "image-tag-missing",
            [
                report,
                "what about the previous image tag? can you roll back?",
                "show me the command",
                "is it fixed now?",
            ],
        )
    )
    with store.reading(engine) as db:
        turns = (
            [t.id for t in store.list_turns(db, session_id=item.session_id)]
            if hasattr(store, "list_turns")
            else None
        )
        calls = store.list_tool_calls(db, session_id=item.session_id)
    first_turn = {c.turn_id for c in calls if c.call_id}
    per_turn: dict[str, int] = {}
    for c in calls:
        per_turn[c.turn_id] = per_turn.get(c.turn_id, 0) + 1
    counts = list(per_turn.values())
    assert len(per_turn) == 2, (counts, turns, first_turn)  # the investigation and the re-check only
    assert counts[-1] <= 3
    rollback = item.answers[1]
    assert (
        rollback.startswith("**Rolling back**") and "kubectl -n shop rollout undo deployment/web" in rollback
    )
    assert "registry.example.com/shop/web:" in rollback
    assert item.answers[1] != item.answers[0]
    engine.dispose()


async def test_a_denied_action_gets_a_plain_statement_and_the_way_to_do_it_by_hand(tmp_path):
    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'x.db'}", model="firstline/runbook"
    )
    engine = store.open_store(settings.db_url)
    cards: list[ApprovalRequired] = []

    async def deny(request: ApprovalRequired) -> ApprovalDecided:
        cards.append(request)
        return ApprovalDecided(approval_id=request.approval_id, decision="deny", by="bob", comment="not now")

    item = await investigate(
        settings,
        engine,
        "nginx-port-conflict",
        ["shop.example.com returns 503; nginx on web-prod-01 will not start", "go ahead"],
        approver=deny,
    )
    after = item.answers[-1]
    assert not INTERNAL.search(after)
    assert "denied by bob" in after and "**Instead, by hand**" in after and "```sh\nsudo " in after
    with store.reading(engine) as db:
        errors = [c.error or "" for c in store.list_tool_calls(db, session_id=item.session_id)]
    assert any("was denied by bob: not now." in e for e in errors) and not any(
        INTERNAL.search(e) for e in errors
    )
    assert cards, "a write action was proposed"
    reasons = [c.reason for c in cards]
    for card in cards:
        assert (
            card.reason.startswith("Intent: ") and "\nChanges: " in card.reason and "\nUndo: " in card.reason
        )
    assert len(set(reasons)) == len(reasons), "each card states its own action"
    engine.dispose()


async def test_a_fix_no_write_tool_can_apply_comes_with_commands_verify_and_undo(tmp_path):
    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'x.db'}", model="firstline/runbook"
    )
    engine = store.open_store(settings.db_url)
    item = await investigate(
        settings,
        engine,
        "disk-full",
        [
            "ingest-worker on ingest-prod-02 stopped processing events around 02:10; "
            "POST /v1/events returns 500."
        ],
    )
    answer = item.answers[-1]
    assert "**Do it by hand**" in answer
    hand = answer.split("**Do it by hand**", 1)[1]
    assert "sudo truncate -s 0 /var/log/ingest/debug.log" in hand
    assert "Verify:" in hand and "df -h /var" in hand and "Undo:" in hand
    engine.dispose()
