"""Group commit (SQLite file and PostgreSQL): many sessions' events in one transaction keep every session's
seqs gap-free and ordered, fill the derived tables and the audit chain exactly as one-by-one appends do, and
one session's bad batch fails only its own callers."""

from __future__ import annotations

import asyncio

import pytest

from assistant import audit, store
from assistant.events import Event, Finding, Token, ToolCall, ToolResultEvent, TurnFinished, UserMessage
from assistant.store.group_commit import GroupCommitter


def _session(engine, title: str = "") -> str:
    with store.writing(engine) as db:
        return store.create_session(db, target="sandbox:x", model="m", title=title).id


def _turn(sid: str, n: int) -> list[Event]:
    """A small investigation: question, tokens, a call and its result, a finding seen twice, the end."""
    t = f"t-{sid}"
    finding = Finding(finding_id="F1", signature="port-in-use", title="port 80 is taken", confidence=0.6)
    better = finding.model_copy(update={"confidence": 0.9, "title": "port 80 is taken by pid 2314"})
    return (
        [Event.of(UserMessage(text=f"question {n}", author=f"user{n}"), t)]
        + [Event.of(Token(text=f"w{i} "), t) for i in range(5)]
        + [
            Event.of(ToolCall(call_id="c1", tool="port_owner", args={"port": 80}, command="ss -ltnp"), t),
            Event.of(
                ToolResultEvent(
                    call_id="c1", tool="port_owner", ok=True, output=f"pid {n}", output_sha256="ab" * 32
                ),
                t,
            ),
            Event.of(finding, t),
            Event.of(better, t),
            Event.of(TurnFinished(status="completed"), t),
        ]
    )


def test_one_transaction_for_many_sessions_matches_one_by_one(engine):
    sids = [_session(engine) for _ in range(5)]
    batch = {sid: _turn(sid, n) for n, sid in enumerate(sids)}
    stored = store.append_batch(engine, batch)

    with store.reading(engine) as db:
        for n, sid in enumerate(sids):
            assert [e.seq for e in stored[sid]] == list(range(1, len(batch[sid]) + 1))
            back = store.list_events(db, session_id=sid)
            assert [(e.seq, e.type, e.data) for e in back] == [(e.seq, e.type, e.data) for e in stored[sid]]
            session = store.get_session(db, session_id=sid)
            assert (session.last_seq, session.status, session.title) == (
                len(batch[sid]),
                "idle",
                f"question {n}",
            )
            calls = store.list_tool_calls(db, session_id=sid)
            assert [(c.call_id, c.command, c.output, c.ok) for c in calls] == [
                ("c1", "ss -ltnp", f"pid {n}", True)
            ]
            findings = store.list_findings(
                db, session_id=sid
            )  # the same finding twice in one batch: last wins
            assert [(f.finding_id, f.confidence, f.title) for f in findings] == [
                ("F1", 0.9, "port 80 is taken by pid 2314")
            ]
    entries = list(audit.export(engine))
    assert sorted((e["session_id"], e["actor"], e["command"]) for e in entries) == sorted(
        (sid, f"user{n}", "ss -ltnp") for n, sid in enumerate(sids)
    )
    assert audit.verify(engine).ok


def test_a_second_batch_continues_every_session_where_it_was(engine):
    a, b = _session(engine), _session(engine)
    store.append_batch(engine, {a: [Event.of(Token(text="1"))], b: [Event.of(Token(text="1"))] * 3})
    again = store.append_batch(engine, {a: [Event.of(Token(text="2"))] * 2, b: [Event.of(Token(text="2"))]})
    assert [e.seq for e in again[a]] == [2, 3] and [e.seq for e in again[b]] == [4]


def test_a_missing_session_fails_the_whole_transaction(engine):
    a = _session(engine)
    with pytest.raises(store.NotFound):
        store.append_batch(engine, {a: [Event.of(Token(text="x"))], "s_gone": [Event.of(Token(text="y"))]})
    with store.reading(engine) as db:
        assert store.list_events(db, session_id=a) == [] and store.get_session(db, session_id=a).last_seq == 0


async def test_committer_batches_sessions_and_isolates_a_bad_one(engine):
    sids = [_session(engine) for _ in range(20)]
    heard: list[tuple[str, list[int]]] = []
    committer = GroupCommitter(
        engine, on_commit=lambda sid, evs: heard.append((sid, [e["seq"] for e in evs]))
    )
    try:

        async def one(sid: str, k: int) -> list[int]:
            stored = []
            for i in range(k):
                stored += await committer.append(sid, [Event.of(Token(text=f"{i}"))])
            return [e.seq for e in stored]

        results = await asyncio.gather(
            *(one(sid, 6) for sid in sids),
            committer.append("s_gone", [Event.of(Token(text="lost"))]),
            return_exceptions=True,
        )
    finally:
        await committer.aclose()
    *good, bad = results
    assert isinstance(bad, store.NotFound)
    assert good == [list(range(1, 7))] * 20
    assert committer.batches < 20 * 6  # sessions shared transactions
    for sid in sids:  # the streams heard every commit of theirs, in order, once
        assert [seq for s, seqs in heard if s == sid for seq in seqs] == list(range(1, 7))


async def test_closing_the_committer_commits_what_was_queued(engine):
    sid = _session(engine)
    committer = GroupCommitter(engine)
    pending = [
        asyncio.ensure_future(committer.append(sid, [Event.of(Token(text=f"{i}"))])) for i in range(30)
    ]
    await asyncio.sleep(0)
    await committer.aclose()
    assert [stored[0].seq for stored in await asyncio.gather(*pending)] == list(range(1, 31))
    with pytest.raises(RuntimeError, match="closed"):
        await committer.append(sid, [Event.of(Token(text="late"))])
