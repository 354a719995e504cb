"""Turn ownership as a lease: the fence on every append, recovery by lease, force-close, push hints.

Store-level and in-process, on SQLite and PostgreSQL; the multi-process acceptance tests (kill -9,
PID namespaces, SIGTERM) are in test_replicas.py and test_drain.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from slow_http import SlowHTTP

from assistant import store
from assistant.config import Settings
from assistant.events import Event, Token, UserMessage
from assistant.store.group_commit import GroupCommitter
from assistant.turns import recover_expired

SANDBOX = "sandbox:nginx-port-conflict"


def other_replica(host: str = "pod-b") -> store.Owner:
    """Another process on another machine: nothing about it can be proved from here, only its lease."""
    return store.Owner(
        host=host, pid=1, boot=f"{uuid.uuid4()}/1.00", ns="pid:[4026532000]", replica=str(uuid.uuid4())
    )


def begin(engine, owner: store.Owner, target: str = SANDBOX) -> tuple[str, str]:
    with store.writing(engine) as db:
        sid = store.create_session(db, target=target, model="firstline/runbook").id
        turn = store.begin_turn(db, session_id=sid, owner=owner)
        store.append_event(db, session_id=sid, event=Event.of(UserMessage(text="q"), turn.id))
    return sid, turn.id


def events_of(engine, sid: str) -> list[Event]:
    with store.reading(engine) as db:
        return store.list_events(db, session_id=sid)


async def test_only_the_owner_may_append_a_turns_events(engine):
    owner, intruder = other_replica("pod-a"), other_replica("pod-b")
    sid, tid = begin(engine, owner)
    mine, theirs = GroupCommitter(engine, owner=owner.replica), GroupCommitter(engine, owner=intruder.replica)
    try:
        stored = await mine.append(sid, [Event.of(Token(text="ok"), tid)])
        assert stored[0].seq == 2
        with pytest.raises(store.Fenced):
            await theirs.append(sid, [Event.of(Token(text="not mine"), tid)])
    finally:
        await mine.aclose()
        await theirs.aclose()
    assert [e.data.text for e in events_of(engine, sid) if e.type.value == "token"] == ["ok"]


async def test_force_close_fences_the_owner_and_is_audited_once(engine, db_url):
    from assistant.audit import verify

    owner = other_replica("pod-a")
    sid, tid = begin(engine, owner)
    with store.writing(engine) as db:
        row = store.force_close(db, turn_id=tid, by="alice", reason="pod-a is gone for good")
    assert row.status == "interrupted"
    with store.writing(engine) as db, pytest.raises(store.Conflict):
        store.force_close(db, turn_id=tid, by="bob", reason="again")
    with store.writing(engine) as db, pytest.raises(store.NotFound):
        store.force_close(db, turn_id="t_nope", by="bob", reason="x")
    committer = GroupCommitter(engine, owner=owner.replica)
    try:
        with pytest.raises(store.Fenced):  # the old owner wakes up and tries to go on
            await committer.append(sid, [Event.of(Token(text="late"), tid)])
    finally:
        await committer.aclose()
    kinds = [(e.type.value, getattr(e.data, "status", None)) for e in events_of(engine, sid)]
    assert kinds == [("user_message", None), ("error", None), ("turn_finished", "interrupted")]
    assert "closed by alice: pod-a is gone for good" in events_of(engine, sid)[1].data.message
    verdict = verify(engine)
    assert verdict.ok and verdict.count == 1
    with store.reading(engine) as db:
        from assistant.audit import AuditRow

        entry = db.get(AuditRow, 1)
        assert (entry.kind, entry.actor, entry.turn_id, entry.detail["reason"]) == (
            "turn_force_closed",
            "alice",
            tid,
            "pod-a is gone for good",
        )
        assert store.get_session(db, session_id=sid).status == "idle"


def test_recovery_waits_for_the_lease_and_never_closes_a_live_one(engine):
    me, silent, live = store.current_owner(), other_replica("pod-a"), other_replica("pod-b")
    sid_silent, tid_silent = begin(engine, silent)
    sid_live, _ = begin(engine, live)
    assert recover_expired(engine, me, lease_s=0.6) == []  # both leases are fresh
    time.sleep(0.8)
    with store.writing(engine) as db:
        store.lease.touch(db, live)  # pod-b renews; pod-a is silent
    assert recover_expired(engine, me, lease_s=0.6, by_lease=False) == []  # an untrusted view judges nobody
    assert recover_expired(engine, me, lease_s=0.6) == [tid_silent]
    assert recover_expired(engine, me, lease_s=0.6) == []  # a turn ends once
    closed = events_of(engine, sid_silent)
    assert [e.type.value for e in closed] == ["user_message", "error", "turn_finished"]
    assert "stopped renewing its lease" in closed[1].data.message and "pod-a" in closed[1].data.message
    with store.reading(engine) as db:
        assert store.get_session(db, session_id=sid_live).status == "running"


async def test_a_fenced_driver_stops_at_once_mid_tool_call(engine, db_url, tmp_path):
    """The turn is force-closed while its tool call waits on a slow dependency: the driver stops within its
    cancel poll, writes nothing more, and the turn has exactly one end."""
    from assistant.turns import drive_turn

    settings = Settings(home=tmp_path, database_url=db_url, targets={"http_allow": ["127.0.0.1"]})
    with SlowHTTP(delay_s=6.0) as slow:
        with store.writing(engine) as db:
            sid = store.create_session(db, target="local", model="firstline/runbook").id
            tid = store.begin_turn(db, session_id=sid, owner=store.current_owner()).id
        seen: list[str] = []
        driving = asyncio.create_task(
            drive_turn(
                settings,
                engine,
                sid,
                tid,
                slow.question,
                _never,
                on_event=lambda ev: seen.append(ev.type.value),
                poll_s=0.1,
            )
        )
        while "tool_call" not in seen:
            await asyncio.sleep(0.02)
        with store.writing(engine) as db:
            store.force_close(db, turn_id=tid, by="alice", reason="testing the fence")
        closed_at = time.monotonic()
        status = await asyncio.wait_for(driving, 5)
        stopped_in = time.monotonic() - closed_at
    assert status == "interrupted" and stopped_in < 3.0  # well before the tool's 6 s
    events = events_of(engine, sid)
    kinds = [e.type.value for e in events]
    assert kinds.count("turn_finished") == 1 and kinds[-1] == "turn_finished"
    assert kinds[-2] == "error"
    # other checks of the same step may have finished before the close; the slow one's result never lands
    asked = [e.data.tool for e in events if e.type.value == "tool_call"]
    finished = [e.data.tool for e in events if e.type.value == "tool_result"]
    assert "http_check" in asked and "http_check" not in finished, (asked, finished)


async def _never(request):
    raise AssertionError("no approval expected")


async def test_stream_hints_wake_only_readers_that_are_behind():
    notifier = store.Notifier()
    with notifier.subscribe("s1") as sub:
        assert sub.take_after(0) is None  # not woken: the first read asks the DB
        notifier.announce("s1", 5)
        assert await sub.wait(0.01) and sub.take_after(3) is None  # behind the announcement: ask the DB
        notifier.announce("s1", 5)
        assert not await sub.wait(0.01)  # nothing newer announced: no wake-up
        notifier.notify("s1", [{"seq": 6}])
        notifier.announce("s1", 6)  # our own commit, heard back from PostgreSQL
        assert sub.take_after(5) == [{"seq": 6}]
        notifier.announce("s1", 8)  # another replica went further than we were handed
        notifier.notify("s1", [{"seq": 7}])
        assert sub.take_after(6) == [{"seq": 7}]
        assert await sub.wait(0.01) and sub.take_after(7) is None  # ...so the next round asks the DB
        notifier.set_pushed(True)  # the listener (re)connected: everyone checks once
        assert notifier.pushed and await sub.wait(0.01) and sub.take_after(8) is None


def test_notification_payloads_stay_under_postgresqls_limit_and_parse_back():
    from assistant.store.pg_notify import MAX_PAYLOAD, parse, payloads

    spans = {f"s_{i:016x}": (i + 1, i + 3) for i in range(1000)}
    sent = payloads(spans)
    assert len(sent) > 1 and all(len(p) <= MAX_PAYLOAD for p in sent)
    assert {sid: (a, b) for p in sent for sid, a, b in parse(p)} == spans
    assert parse("garbage,s_1:2:x,s_2:3:4") == [("s_2", 3, 4)]


@pytest.mark.postgres
@pytest.mark.parametrize("own_connection", [True, False], ids=["relay-async-connection", "relay-pool-thread"])
async def test_listen_notify_hands_events_to_streams_and_recovers_from_a_lost_connection(
    pg_database, own_connection
):
    """Another process appends; the relay reads the announced events in one query and hands them over, so the
    stream needs no query of its own. The LISTEN connection is killed: it comes back, and says so."""
    import psycopg
    from conftest import _reset_pg

    from assistant.store.pg_notify import EventRelay, PgListener

    _reset_pg(pg_database)
    engine = store.open_store(pg_database)
    notifier = store.Notifier()
    states: list[bool] = []

    def on_state(up: bool) -> None:
        states.append(up)
        notifier.set_pushed(up)

    libpq_url = pg_database.replace("postgresql+psycopg://", "postgresql://")
    relay = EventRelay(engine, notifier, libpq_url if own_connection else None)
    listener = PgListener(libpq_url, relay.heard, on_state, ping_s=0.5)
    try:
        with store.writing(engine) as db:
            sid = store.create_session(db, target=SANDBOX, model="firstline/runbook").id
        with notifier.subscribe(sid) as sub:
            listener.start()
            while not states:
                await asyncio.sleep(0.02)
            sub.take_after(0)
            await asyncio.to_thread(
                store.append_many,
                engine,
                session_id=sid,
                events=[Event.of(Token(text="a")), Event.of(Token(text="b"))],
            )
            await _until(lambda: sub.hint == 2)
            assert [e["data"]["text"] for e in sub.take_after(0)] == [
                "a",
                "b",
            ]  # handed over: no query needed
            with psycopg.connect(libpq_url, autocommit=True) as c:
                c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')"
                )
            await _until(lambda: states[-2:] == [False, True])  # lost, then listening again
            assert sub.take_after(2) is None  # the reconnect woke the stream to check the database
            await asyncio.to_thread(store.append, engine, session_id=sid, event=Event.of(Token(text="c")))
            await _until(lambda: sub.hint == 3)
            assert [e["seq"] for e in sub.take_after(2)] == [3]
    finally:
        await listener.aclose()
        await relay.aclose()
        engine.dispose()


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
