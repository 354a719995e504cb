"""The store on a real SQLite file and a real PostgreSQL database: migrations, the event log, derived tables."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
import sqlalchemy as sa
from conftest import ROOT
from sqlmodel import SQLModel

from assistant import store
from assistant.events import (
    ApprovalDecided,
    ApprovalRequired,
    Event,
    Evidence,
    Finding,
    Message,
    Token,
    ToolCall,
    ToolResultEvent,
    TurnFinished,
    UserMessage,
)
from assistant.store.migrations import MIGRATIONS, current_version, migrate


def _session(engine, **kw) -> store.SessionRow:
    with store.writing(engine) as db:
        return store.create_session(
            db, target=kw.get("target", "sandbox:x"), model=kw.get("model", "m"), title=kw.get("title", "")
        )


def test_migrations_are_idempotent_and_match_the_models(engine):
    """Every table the migrations create is declared in store/models.py with the same columns, and back."""
    assert migrate(engine) == len(MIGRATIONS)  # second run: nothing to do
    with engine.connect() as conn:
        assert current_version(conn) == len(MIGRATIONS)
    insp = sa.inspect(engine)
    declared = {t.name: t for t in SQLModel.metadata.sorted_tables}
    assert set(insp.get_table_names()) - {"schema_version"} == set(declared)
    for name, table in declared.items():
        migrated = {c["name"] for c in insp.get_columns(name)}
        assert migrated == {c.name for c in table.columns}, name


def test_every_table_is_declared_in_store_models():
    """One place for tables: loading the whole server declares no table class anywhere else."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import web.app, cli.app, evals.runner
                from sqlmodel import SQLModel
                where = {m.class_.__module__ for m in SQLModel._sa_registry.mappers}
                assert where == {"assistant.store.models"}, where
                assert len(SQLModel.metadata.tables) == 14, sorted(SQLModel.metadata.tables)
                """
            ),
        ],
        cwd=ROOT,
        check=True,
    )


def test_postgres_url_spelling_is_accepted():
    assert store.normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert store.normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert store.normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_unreachable_database_is_store_unavailable():
    with pytest.raises(store.StoreUnavailable):
        store.open_store("postgresql://postgres@127.0.0.1:1/nope")


def test_append_assigns_seq_and_fills_derived_tables(engine):
    s = _session(engine)
    evs = [
        Event.of(UserMessage(text="nginx returns 503"), "t1"),
        Event.of(Token(text="Checking"), "t1"),
        Event.of(
            ToolCall(
                call_id="c1",
                tool="service_status",
                args={"service": "nginx"},
                command="systemctl status nginx",
                target="sandbox:x",
            ),
            "t1",
        ),
        Event.of(
            ToolResultEvent(
                call_id="c1",
                tool="service_status",
                ok=False,
                exit_code=3,
                duration_ms=12.5,
                output="Active: failed",
                output_sha256="ab" * 32,
            ),
            "t1",
        ),
        Event.of(
            Finding(
                finding_id="F1",
                signature="unit-failed",
                title="nginx failed",
                severity="high",
                evidence=[Evidence(call_id="c1", tool="service_status", lines=["Active: failed"])],
                facts={"unit": "nginx"},
            ),
            "t1",
        ),
        Event.of(Message(text="**Root cause**: port 80 taken", finding_ids=["F1"]), "t1"),
    ]
    stored = [store.append(engine, session_id=s.id, event=e) for e in evs]
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5, 6]
    with store.reading(engine) as db:
        back = store.list_events(db, session_id=s.id)
        assert [e.to_json()["data"] for e in back] == [e.data.model_dump(mode="json") for e in evs]
        assert [e.seq for e in store.list_events(db, session_id=s.id, after=4)] == [5, 6]
        (call,) = store.list_tool_calls(db, session_id=s.id)
        assert (
            call.tool,
            call.args,
            call.command,
            call.exit_code,
            call.ok,
            call.output,
            call.output_sha256,
        ) == (
            "service_status",
            {"service": "nginx"},
            "systemctl status nginx",
            3,
            False,
            "Active: failed",
            "ab" * 32,
        )
        (finding,) = store.list_findings(db, session_id=s.id)
        assert finding.evidence[0]["lines"] == ["Active: failed"] and finding.facts == {"unit": "nginx"}
        assert [(m.role, m.text) for m in store.list_messages(db, session_id=s.id)] == [
            ("user", "nginx returns 503"),
            ("assistant", "**Root cause**: port 80 taken"),
        ]
        assert store.get_session(db, session_id=s.id).last_seq == 6


def test_unknown_session_is_not_found(engine):
    with pytest.raises(store.NotFound):
        store.append(engine, session_id="s_nope", event=Event.of(Token(text="x")))
    with store.reading(engine) as db, pytest.raises(store.NotFound):
        store.get_session(db, session_id="s_nope")


def test_concurrent_appends_from_threads_get_unique_gapless_seqs(engine):
    s = _session(engine)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                store.append(engine, session_id=s.id, event=Event.of(Token(text=f"{n}-{i}")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with store.reading(engine) as db:
        events = store.list_events(db, session_id=s.id)
    assert [e.seq for e in events] == list(range(1, 201))
    assert sorted(e.data.text for e in events) == sorted(f"{n}-{i}" for n in range(8) for i in range(25))
    for n in range(8):  # each writer's own events stay in its order
        mine = [int(e.data.text.split("-")[1]) for e in events if e.data.text.startswith(f"{n}-")]
        assert mine == sorted(mine)


@pytest.mark.slow
def test_concurrent_appends_from_processes(engine, db_url):
    s = _session(engine)
    code = textwrap.dedent(f"""
        from assistant import store
        from assistant.events import Event, Token
        import sys
        eng = store.open_store({db_url!r})
        for i in range(30):
            store.append(eng, session_id={s.id!r}, event=Event.of(Token(text=sys.argv[1] + "-" + str(i))))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, f"p{n}"], cwd=ROOT) for n in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    with store.reading(engine) as db:
        seqs = [e.seq for e in store.list_events(db, session_id=s.id)]
    assert seqs == list(range(1, 91))


def test_turns_are_exclusive_per_session(engine):
    s = _session(engine)
    me = store.current_owner()
    with store.writing(engine) as db:
        turn = store.begin_turn(db, session_id=s.id, owner=me)
    with store.writing(engine) as db, pytest.raises(store.Conflict):
        store.begin_turn(db, session_id=s.id, owner=me)
    with store.writing(engine) as db, pytest.raises(store.Conflict):
        store.delete_session(db, session_id=s.id)
    store.append(engine, session_id=s.id, event=Event.of(TurnFinished(status="completed"), turn.id))
    with store.reading(engine) as db:
        assert store.get_session(db, session_id=s.id).status == "idle"
        assert store.get_turn(db, session_id=s.id, turn_id=turn.id).status == "completed"
    with store.writing(engine) as db:
        store.begin_turn(db, session_id=s.id, owner=me)


def test_cancel_flag(engine):
    s = _session(engine)
    with store.writing(engine) as db:
        turn = store.begin_turn(db, session_id=s.id, owner=store.current_owner())
    with store.writing(engine) as db:
        store.request_cancel(db, session_id=s.id, turn_id=turn.id)
    with store.reading(engine) as db:
        assert store.cancel_requested(db, turn_id=turn.id)
    with store.writing(engine) as db, pytest.raises(store.NotFound):
        store.request_cancel(db, session_id=s.id, turn_id="t_nope")


def test_delete_removes_everything(engine):
    s = _session(engine)
    other = _session(engine)
    for sid in (s.id, other.id):
        store.append(engine, session_id=sid, event=Event.of(UserMessage(text="hi"), "t"))
        store.append(engine, session_id=sid, event=Event.of(ToolCall(call_id="c1", tool="x"), "t"))
    with store.writing(engine) as db:
        store.delete_session(db, session_id=s.id)
    with engine.connect() as conn:
        for table in ("events", "messages", "tool_calls", "sessions"):
            ids = {
                r[0]
                for r in conn.execute(
                    sa.text(f"SELECT {'id' if table == 'sessions' else 'session_id'} FROM {table}")
                )
            }
            assert ids == {other.id}, table


def test_approvals_are_decided_once_and_expire_with_their_turn(engine):
    s = _session(engine)
    with store.writing(engine) as db:
        turn = store.begin_turn(db, session_id=s.id, owner=store.current_owner())
    req = ApprovalRequired(
        approval_id="a1",
        call_id="c9",
        tool="restart_service",
        args={"service": "nginx"},
        command="systemctl restart nginx",
        target="sandbox:x",
    )
    store.append(engine, session_id=s.id, event=Event.of(req, turn.id))
    with store.writing(engine) as db:  # the approver's upsert after the event: no duplicate
        store.ensure_approval(db, session_id=s.id, turn_id=turn.id, request=req)
    with store.writing(engine) as db:
        row = store.decide_approval(
            db, session_id=s.id, approval_id="a1", decision="deny", by="alice", comment="not at peak time"
        )
    assert (row.status, row.decided_by, row.comment) == ("denied", "alice", "not at peak time")
    with store.writing(engine) as db, pytest.raises(store.Conflict):
        store.decide_approval(db, session_id=s.id, approval_id="a1", decision="approve", by="bob")
    store.append(
        engine,
        session_id=s.id,
        event=Event.of(ApprovalDecided(approval_id="a1", decision="deny", by="alice"), turn.id),
    )
    req2 = req.model_copy(update={"approval_id": "a2"})
    store.append(engine, session_id=s.id, event=Event.of(req2, turn.id))
    store.append(engine, session_id=s.id, event=Event.of(TurnFinished(status="cancelled"), turn.id))
    with store.reading(engine) as db:
        rows = {r.id: r.status for r in store.list_approvals(db, session_id=s.id)}
        assert rows == {"a1": "denied", "a2": "expired"}
        with pytest.raises(store.NotFound):
            store.get_approval(db, session_id=other_id(), approval_id="a1")


def other_id() -> str:
    return "s_someone_else"


def test_recovery_closes_dead_owners_at_once_and_leaves_live_leases_alone(engine):
    import uuid

    from assistant.turns import recover_expired

    me = store.current_owner()
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead_owner = store.Owner(
        host=me.host, pid=dead.pid, boot=_stamp_of(dead.pid), ns=me.ns, replica=str(uuid.uuid4())
    )
    dead.kill()
    dead.wait()
    sessions = {name: _session(engine, title=name) for name in ("dead", "alive", "elsewhere")}
    owners = {
        "dead": dead_owner,
        "alive": me,
        "elsewhere": store.Owner(
            host="some-other-host", pid=1, boot="x/1", ns="pid:[1]", replica=str(uuid.uuid4())
        ),
    }
    turns = {}
    for name, s in sessions.items():
        with store.writing(engine) as db:
            turns[name] = store.begin_turn(db, session_id=s.id, owner=owners[name]).id
        store.append(engine, session_id=s.id, event=Event.of(UserMessage(text="q"), turns[name]))
    assert recover_expired(engine, me, lease_s=60, by_lease=False) == [
        turns["dead"]
    ]  # provably gone: no wait
    assert recover_expired(engine, me, lease_s=60) == []  # idempotent; the other host's lease is fresh
    with store.reading(engine) as db:
        assert (
            store.get_turn(db, session_id=sessions["dead"].id, turn_id=turns["dead"]).status == "interrupted"
        )
        assert store.get_session(db, session_id=sessions["dead"].id).status == "idle"
        events = store.list_events(db, session_id=sessions["dead"].id)
        assert [e.type.value for e in events] == ["user_message", "error", "turn_finished"]
        assert events[-1].data.status == "interrupted"
        for name in ("alive", "elsewhere"):
            assert store.get_session(db, session_id=sessions[name].id).status == "running"


def _stamp_of(pid: int) -> str:
    from assistant.store.owner import _stamp

    return _stamp(pid)


def test_untitled_session_is_named_after_its_first_question(engine):
    s = _session(engine)
    named = _session(engine, title="kept")
    long_q = "nginx on web-prod-01 returns 503 since 03:00 and\nthe load balancer marks it down; " + "x" * 100
    for sid in (s.id, named.id):
        store.append(engine, session_id=sid, event=Event.of(UserMessage(text=long_q), "t1"))
        store.append(engine, session_id=sid, event=Event.of(UserMessage(text="second question"), "t2"))
    with store.reading(engine) as db:
        title = store.get_session(db, session_id=s.id).title
        assert title.startswith("nginx on web-prod-01 returns 503 since 03:00 and the load balancer")
        assert len(title) <= 80 and title.endswith("…")
        assert " ".join(long_q.split()).startswith(title[:-1] + " "), (
            "cut at a word, never mid-word (issue 18)"
        )
        assert store.get_session(db, session_id=named.id).title == "kept"


async def test_notifier_hands_over_only_contiguous_events():
    notifier = store.Notifier()
    with notifier.subscribe("s1") as sub:
        notifier.notify("s1", [{"seq": 3}, {"seq": 4}])
        notifier.notify("other", [{"seq": 5}])
        assert await sub.wait(0.01) and sub.take_after(2) == [{"seq": 3}, {"seq": 4}]
        assert not await sub.wait(0.01)  # taken: nothing new
        notifier.notify("s1", [{"seq": 4}, {"seq": 5}])  # overlap with what the reader has: skipped
        assert sub.take_after(4) == [{"seq": 5}]
        notifier.notify("s1", [{"seq": 7}])  # a gap (another process appended 6): ask the DB
        assert sub.take_after(5) is None
        notifier.notify("s1")  # a bare wake-up: ask the DB
        assert await sub.wait(5) and sub.take_after(7) is None
        assert notifier.subscribers("s1") == 1
    assert notifier.subscribers("s1") == 0
