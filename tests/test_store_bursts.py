"""Token bursts are stored with one seq reservation and one multi-row INSERT (SQLite file and PostgreSQL):
seqs stay gap-free and in order, interleaved derived events still fill their tables, concurrent bursts
never collide."""

from __future__ import annotations

import threading

from assistant import store
from assistant.events import Event, Message, Token, ToolCall, ToolResultEvent, TurnStarted


def _session(engine) -> str:
    with store.writing(engine) as db:
        return store.create_session(db, target="sandbox:x", model="m", title="").id


def test_burst_interleaved_with_derived_events_keeps_order_and_derived_rows(engine):
    sid = _session(engine)
    events = (
        [Event.of(TurnStarted(model="m", target="t"), "t1")]
        + [Event.of(Token(text=f"w{i} "), "t1") for i in range(40)]
        + [
            Event.of(ToolCall(call_id="c1", tool="service_status", args={"service": "nginx"}), "t1"),
            Event.of(ToolResultEvent(call_id="c1", tool="service_status", ok=True, output="active"), "t1"),
        ]
        + [
            Event.of(Token(text="done"), "t1"),
            Event.of(Token(text="!"), "t1"),
            Event.of(Message(text="all good"), "t1"),
        ]
    )
    stored = store.append_many(engine, session_id=sid, events=events)

    assert [e.seq for e in stored] == list(range(1, len(events) + 1))
    assert all(e.session_id == sid and e.at for e in stored)
    with store.reading(engine) as db:
        back = store.list_events(db, session_id=sid)
        assert [(e.seq, e.type, e.data) for e in back] == [(e.seq, e.type, e.data) for e in stored]
        assert store.get_session(db, session_id=sid).last_seq == len(events)
        calls = store.list_tool_calls(db, session_id=sid)
        assert [(c.call_id, c.tool) for c in calls] == [("c1", "service_status")]


def test_concurrent_bursts_into_one_session_get_unique_gapless_seqs(engine):
    sid = _session(engine)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for b in range(5):
                burst = [Event.of(Token(text=f"{k}-{b}-{i}"), f"t{k}") for i in range(20)]
                store.append_many(engine, session_id=sid, events=burst)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with store.reading(engine) as db:
        back = store.list_events(db, session_id=sid)
    assert [e.seq for e in back] == list(range(1, 4 * 5 * 20 + 1))
    for k in range(4):  # each writer's tokens keep their order, and every burst is contiguous
        mine = [e for e in back if e.turn_id == f"t{k}"]
        assert [e.data.text for e in mine] == [f"{k}-{b}-{i}" for b in range(5) for i in range(20)]
        for b in range(5):
            seqs = [e.seq for e in mine[b * 20 : (b + 1) * 20]]
            assert seqs == list(range(seqs[0], seqs[0] + 20))
