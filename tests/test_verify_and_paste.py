"""Verified fixes (assistant/verify.py), approval expiry and pasted logs (assistant/attachments.py), in-process.

The loop runs on the sandbox target (whose approved writes change its state) with the scripted model;
the store and the turn supervisor run on a real SQLite file and PostgreSQL. The browser side of the
same behaviours is in tests/test_ui_screens.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from scripted_model import ScriptedModel, calls

from assistant import store
from assistant.config import Settings
from assistant.context import TurnContext
from assistant.events import ApprovalDecided, Event, EventType
from assistant.loop import run_turn
from assistant.turns import TurnSupervisor, db_approver
from tools.targets import open_target

TARGET = "sandbox:nginx-port-conflict"
DIAGNOSE = [calls(("service_status", {"service": "nginx"})), calls(("port_owner", {"port": 80})), "diagnosed"]
FIX = [calls(("kill_process", {"pid": 2314})), calls(("port_owner", {"port": 80})), "fixed"]


async def approve(request):
    return ApprovalDecided(approval_id=request.approval_id, decision="approve", by="alice")


async def deny(request):
    return ApprovalDecided(approval_id=request.approval_id, decision="deny", by="alice")


async def turn(
    tmp_path: Path, script, target, history: list[Event], turn_id: str, approver=approve
) -> list[Event]:
    ctx = TurnContext(
        settings=Settings(home=tmp_path, model_retries=0),
        target=target,
        model="scripted/test",
        session_id="s1",
        turn_id=turn_id,
        llm=ScriptedModel(script),
        approver=approver,
    )
    return [e async for e in run_turn(ctx, history, "nginx returns 503")]


def of(events, etype: EventType) -> list:
    return [e.data for e in events if e.type is etype]


async def test_an_approved_fix_verified_by_the_same_check_resolves_only_that_finding(tmp_path):
    target = open_target(TARGET)
    first = await turn(tmp_path, DIAGNOSE, target, [], "t1")
    findings = {f.finding_id: f for f in of(first, EventType.FINDING)}
    owner = next(f for f in findings.values() if f.evidence[0].tool == "port_owner")
    assert not of(first, EventType.FINDING_RESOLVED)  # found, not fixed

    second = await turn(tmp_path, FIX, target, first, "t2")  # a later turn: rebuilt from the log
    resolved = of(second, EventType.FINDING_RESOLVED)
    assert [r.finding_id for r in resolved] == [owner.finding_id]  # systemctl's findings were not re-checked
    r = resolved[0]
    kill = next(c for c in of(second, EventType.TOOL_CALL) if c.tool == "kill_process")
    recheck = next(c for c in of(second, EventType.TOOL_CALL) if c.tool == "port_owner")
    assert (r.fix_call_id, r.fix_command, r.verify_call_id) == (
        kill.call_id,
        "kill -TERM 2314",
        recheck.call_id,
    )
    assert r.verify_command == owner.evidence[0].command
    assert not [f for f in of(second, EventType.FINDING) if f.signature == "port-in-use"]

    third = await turn(tmp_path, FIX[1:], target, first + second, "t3")  # resolved once, never again
    assert not of(third, EventType.FINDING_RESOLVED)


async def test_no_fix_or_a_denied_fix_resolves_nothing(tmp_path):
    target = open_target(TARGET)
    first = await turn(tmp_path, DIAGNOSE, target, [], "t1")
    again = await turn(tmp_path, FIX[1:], target, first, "t2")  # the same check, but nothing was changed
    assert not of(again, EventType.FINDING_RESOLVED)
    denied = await turn(tmp_path, FIX, target, first + again, "t3", approver=deny)
    assert not of(denied, EventType.FINDING_RESOLVED)
    assert of(denied, EventType.FINDING) == []  # the fault is still there: nothing new, nothing resolved


async def test_resolution_is_stored_on_the_finding(engine):
    target = open_target(TARGET)
    with store.writing(engine) as db:
        sid = store.create_session(db, target=TARGET, model="scripted/test").id
    first = await turn(Path("/tmp"), DIAGNOSE, target, [], "t1")
    second = await turn(Path("/tmp"), FIX, target, first, "t2")
    store.append_many(
        engine, session_id=sid, events=[e for e in first + second if e.type is not EventType.TOKEN]
    )
    with store.reading(engine) as db:
        rows = {r.finding_id: r for r in store.list_findings(db, session_id=sid)}
    resolved = of(second, EventType.FINDING_RESOLVED)[0]
    assert rows[resolved.finding_id].resolved_by == resolved.verify_call_id
    assert rows[resolved.finding_id].resolved_at is not None
    assert [fid for fid, r in rows.items() if r.resolved_at] == [resolved.finding_id]


async def test_an_unanswered_approval_expires_and_is_recorded(engine):
    with store.writing(engine) as db:
        sid = store.create_session(db, target=TARGET, model="scripted/test").id
        turn_id = store.begin_turn(db, session_id=sid, owner=store.current_owner()).id
    from assistant.events import ApprovalRequired

    approver = db_approver(engine, sid, turn_id, poll_s=0.05, timeout_s=0.3)
    decided = await approver(
        ApprovalRequired(approval_id="a1", call_id="c1", tool="kill_process", command="kill 1")
    )
    assert (decided.decision, decided.by, decided.expired) == ("deny", "firstline", True)
    assert decided.comment == "no decision within 0.3 seconds"
    with store.reading(engine) as db:
        row = store.get_approval(db, session_id=sid, approval_id="a1")
    assert (row.status, row.decided_by, row.comment) == ("expired", "firstline", decided.comment)
    assert row.decided_at is not None


async def test_a_pasted_log_is_a_redacted_capped_tool_output_the_analyzers_and_model_read(tmp_path, db_url):
    settings = Settings(home=tmp_path, database_url=db_url, max_attachment_chars=50_000)
    engine = store.open_store(db_url)
    trace = (
        'Traceback (most recent call last):\n  File "/srv/orders/db.py", line 41, in connect\n'
        'psycopg.OperationalError: connection to server at "10.0.0.5", port 5432 failed: '
        "FATAL:  sorry, too many clients already"
    )
    paste = (
        "INFO served /api/v1/orders token=ghp_" + "a" * 36 + "\n" + "INFO request served ok\n" * 8000 + trace
    )
    try:
        with store.writing(engine) as db:
            sid = store.create_session(db, target=TARGET, model="firstline/runbook").id
        supervisor = TurnSupervisor(settings, engine)
        row = await supervisor.start(sid, "the orders API fails; log attached", attachment=paste)
        await asyncio.wait_for(supervisor.tasks[row.id], 60)
        await supervisor.shutdown()
        with store.reading(engine) as db:
            events = store.list_events(db, session_id=sid)
        pasted = next(
            e.data for e in events if e.type is EventType.TOOL_RESULT and e.data.tool == "pasted_log"
        )
        assert pasted.command == "pasted by the engineer" and pasted.truncated
        assert len(pasted.output) < 50_100 and pasted.output.endswith(trace)  # head and tail kept
        assert "ghp_aaaa" not in pasted.output  # redacted before storage
        found = [
            e.data
            for e in events
            if e.type is EventType.FINDING and e.data.evidence[0].call_id == pasted.call_id
        ]
        assert [f.signature for f in found] == ["db-max-connections"] and found[0].finding_id == "F1"
        answer = next(e.data.text for e in events if e.type is EventType.MESSAGE)
        assert "too many clients" in answer  # the model read the paste like any output
        types = [e.type for e in events]
        assert types[:3] == [EventType.USER_MESSAGE, EventType.TOOL_CALL, EventType.TOOL_RESULT]
    finally:
        engine.dispose()
