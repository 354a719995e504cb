"""The hash-chained audit trail on a real SQLite file and a real PostgreSQL database.

Entries come from real event appends through the store; tampering is done with plain SQL
(UPDATE / DELETE) the way an intruder with database access would; `firstline audit ...`
runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa
from conftest import ROOT

from assistant import audit, store
from assistant.config import Settings
from assistant.events import ApprovalDecided, ApprovalRequired, Event, ToolCall, ToolResultEvent, UserMessage
from cli import audit as cli_audit


def _session(engine) -> str:
    with store.writing(engine) as db:
        return store.create_session(db, target="sandbox:nginx-port-conflict", model="m").id


def _tool_run(
    engine,
    sid: str,
    n: int,
    *,
    tool: str = "service_status",
    exit_code: int = 0,
    command: str = "systemctl status nginx",
    turn: str = "t1",
) -> None:
    call = f"c{n}"
    store.append(engine, session_id=sid, event=Event.of(UserMessage(text="hi", author="alice"), turn))
    store.append(
        engine,
        session_id=sid,
        event=Event.of(
            ToolCall(call_id=call, tool=tool, args={"service": "nginx"}, command=command, target="sandbox:x"),
            turn,
        ),
    )
    store.append(
        engine,
        session_id=sid,
        event=Event.of(
            ToolResultEvent(
                call_id=call,
                tool=tool,
                ok=exit_code == 0,
                exit_code=exit_code,
                duration_ms=12.5,
                output="out",
                command=command,
                output_sha256="ab" * 32,
            ),
            turn,
        ),
    )


def _approval(engine, sid: str, n: int, decision: str, turn: str = "t1") -> None:
    req = ApprovalRequired(
        approval_id=f"a{n}",
        call_id=f"w{n}",
        tool="restart_service",
        args={"service": "nginx"},
        command="systemctl restart nginx",
        target="sandbox:x",
        reason="port freed",
    )
    store.append(engine, session_id=sid, event=Event.of(req, turn))
    store.append(
        engine,
        session_id=sid,
        event=Event.of(ApprovalDecided(approval_id=f"a{n}", decision=decision, by="bob", comment="go"), turn),
    )


def _sql(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def _trail(engine) -> list[dict]:
    return list(audit.export(engine))


def test_fresh_trail_verifies(engine):
    verdict = audit.verify(engine)
    assert (verdict.ok, verdict.count, verdict.head) == (True, 0, audit.GENESIS)


def test_tool_executions_and_decisions_are_chained_with_their_facts(engine):
    sid = _session(engine)
    _tool_run(engine, sid, 1, exit_code=3)
    _approval(engine, sid, 2, "approve")
    _tool_run(engine, sid, 3, command="psql postgres://app:hunter2@db/app")
    entries = _trail(engine)
    assert [e["kind"] for e in entries] == [
        "tool_execution",
        "approval_request",
        "approval_decision",
        "tool_execution",
    ]
    first, request, decision, third = entries
    assert (request["actor"], request["approval_id"], request["detail"]["record"]["status"]) == (
        "firstline",
        "a2",
        "pending",
    )
    assert decision["detail"]["record"] == {
        "tool": "restart_service",
        "args": {"service": "nginx"},
        "command": "systemctl restart nginx",
        "target": "sandbox:x",
        "reason": "port freed",
        "status": "approved",
        "decided_by": "bob",
        "comment": "go",
    }
    assert (first["id"], first["actor"], first["tool"], first["exit_code"], first["duration_ms"]) == (
        1,
        "alice",
        "service_status",
        3,
        12.5,
    )
    assert first["output_sha256"] == "ab" * 32 and first["detail"]["outcome"] == "executed"
    assert first["target"] == "sandbox:x" and first["detail"]["args"] == {"service": "nginx"}
    assert (decision["actor"], decision["approval_id"], decision["tool"], decision["detail"]["decision"]) == (
        "bob",
        "a2",
        "restart_service",
        "approve",
    )
    assert third["command"] == "psql postgres://app:[REDACTED]@db/app"  # exported trails carry no secrets
    assert first["prev_hash"] == audit.GENESIS
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    for e in entries:
        assert audit.entry_hash(e) == e["hash"]
    verdict = audit.verify(engine)
    assert verdict.ok and verdict.count == 4 and verdict.head == third["hash"]


def test_audit_entry_is_in_the_same_transaction_as_its_event(engine):
    sid = _session(engine)
    with pytest.raises(RuntimeError), store.writing(engine) as db:
        store.append_event(
            db,
            session_id=sid,
            event=Event.of(ToolResultEvent(call_id="c1", tool="port_owner", ok=True), "t1"),
        )
        assert len(list(db.exec(sa.select(audit.AuditRow.id)))) == 1
        raise RuntimeError("the event's transaction fails")
    assert _trail(engine) == [] and audit.verify(engine).ok
    with store.reading(engine) as db:
        assert store.list_events(db, session_id=sid) == []


@pytest.mark.parametrize(
    "tamper, entry, problem",
    [
        ("UPDATE audit_log SET exit_code = 0 WHERE id = 2", 2, "edited"),
        ("UPDATE audit_log SET command = 'systemctl status sshd' WHERE id = 3", 3, "edited"),
        ("UPDATE audit_log SET hash = '" + "f" * 64 + "' WHERE id = 1", 1, "edited"),
        ("DELETE FROM audit_log WHERE id = 2", 2, "missing"),
        ("DELETE FROM audit_log WHERE id = 4", 4, "missing"),
    ],
)
def test_sql_tampering_is_named(engine, tamper, entry, problem):
    sid = _session(engine)
    for n in (1, 2, 3):
        _tool_run(engine, sid, n, exit_code=n)
    _approval(engine, sid, 4, "deny")
    assert audit.verify(engine).ok
    _sql(engine, tamper)
    verdict = audit.verify(engine)
    assert (verdict.ok, verdict.entry_id, verdict.problem) == (False, entry, problem), verdict.message
    assert f"entry {entry}" in verdict.message


def test_reordering_and_rewriting_with_a_fresh_hash_are_detected(engine):
    sid = _session(engine)
    for n in (1, 2, 3, 4):
        _tool_run(engine, sid, n)
    rows = _trail(engine)
    # Swap entries 2 and 3 wholesale (each row stays self-consistent; only the order changes).
    _sql(engine, "UPDATE audit_log SET id = 99 WHERE id = 2")
    _sql(engine, "UPDATE audit_log SET id = 2 WHERE id = 3")
    _sql(engine, "UPDATE audit_log SET id = 3 WHERE id = 99")
    verdict = audit.verify(engine)
    assert (verdict.entry_id, verdict.problem) == (2, "reordered"), verdict.message
    _sql(engine, "UPDATE audit_log SET id = 99 WHERE id = 2")
    _sql(engine, "UPDATE audit_log SET id = 2 WHERE id = 3")
    _sql(engine, "UPDATE audit_log SET id = 3 WHERE id = 99")
    assert audit.verify(engine).ok
    # Rewrite entry 2 and recompute its own hash: entry 3 still points at the original.
    forged = dict(rows[1], exit_code=0, command="true")
    _sql(
        engine,
        "UPDATE audit_log SET exit_code = 0, command = 'true', hash = :h WHERE id = 2",
        h=audit.entry_hash(forged),
    )
    verdict = audit.verify(engine)
    assert (verdict.entry_id, verdict.problem) == (2, "edited"), verdict.message


def test_deleting_and_renumbering_is_still_missing(engine):
    sid = _session(engine)
    for n in (1, 2, 3):
        _tool_run(engine, sid, n)
    _sql(engine, "DELETE FROM audit_log WHERE id = 2")
    _sql(engine, "UPDATE audit_log SET id = 2 WHERE id = 3")
    verdict = audit.verify(engine)
    assert (verdict.ok, verdict.problem) == (False, "missing"), verdict.message


def test_trail_outlives_a_deleted_session(engine):
    sid = _session(engine)
    _tool_run(engine, sid, 1)
    with store.writing(engine) as db:
        store.delete_session(db, session_id=sid)
    assert [e["session_id"] for e in _trail(engine)] == [sid] and audit.verify(engine).ok


def test_concurrent_appends_form_one_unbroken_chain(engine):
    """8 threads on 4 sessions append 10 tool runs each: ids 1..N with no gap, every link intact."""
    sessions = [_session(engine) for _ in range(4)]
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for n in range(10):
                _tool_run(engine, sessions[k % 4], k * 100 + n, turn=f"t{k}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    verdict = audit.verify(engine)
    assert verdict.ok and verdict.count == 80, verdict.message
    assert [e["id"] for e in _trail(engine)] == list(range(1, 81))


def test_export_since_filters_by_time(engine):
    sid = _session(engine)
    _tool_run(engine, sid, 1)
    _tool_run(engine, sid, 2)
    entries = _trail(engine)
    later = entries[1]["at"]
    assert [e["id"] for e in audit.export(engine, audit.parse_since(later))] == [2]
    assert [e["id"] for e in audit.export(engine, audit.parse_since("2000-01-01"))] == [1, 2]
    assert list(audit.export(engine, audit.parse_since("2999-01-01T00:00:00+02:00"))) == []
    with pytest.raises(ValueError):
        audit.parse_since("yesterday")


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "audit", *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_firstline_audit_cli_verifies_exports_and_names_the_edited_entry(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(FIRSTLINE_DATABASE_URL=url, FIRSTLINE_HOME=str(tmp_path))
    engine = store.open_store(url)
    sid = _session(engine)
    _tool_run(engine, sid, 1)
    _approval(engine, sid, 2, "approve")
    _tool_run(engine, sid, 3)

    ok = _cli(env, "verify")
    assert ok.returncode == 0 and "intact: 4 entries" in ok.stdout, ok.stdout + ok.stderr
    settings = Settings(database_url=url, home=tmp_path)
    assert cli_audit.export_cli(settings, None) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["id"] for e in lines] == [1, 2, 3, 4]
    assert all(audit.entry_hash(e) == e["hash"] for e in lines)  # a SIEM can re-check every line itself
    assert cli_audit.export_cli(settings, "last tuesday") == 2
    assert "not an ISO date" in capsys.readouterr().err

    _sql(engine, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    broken = _cli(env, "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "entry 2" in broken.stdout and "edited" in broken.stdout
    engine.dispose()


def test_verify_cli_on_an_unreachable_database_says_so(capsys):
    code = cli_audit.verify_cli(Settings(database_url="postgresql://postgres@127.0.0.1:1/nope"))
    assert code == 2 and "cannot open database" in capsys.readouterr().err


# ------------------------------------------------------------------ issue 15 item 9: what the chain covers


def test_editing_an_approvals_row_after_the_fact_is_caught(engine):
    sid = _session(engine)
    _approval(engine, sid, 1, "approve")
    assert audit.verify(engine).ok
    _sql(engine, "UPDATE approvals SET decided_by = 'mallory' WHERE id = 'a1'")
    verdict = audit.verify(engine)
    assert not verdict.ok and verdict.problem == "edited" and "decided_by is 'mallory'" in verdict.message
    assert "'bob'" in verdict.message


def test_a_turn_ending_with_a_pending_approval_chains_its_expiry(engine):
    from assistant.events import TurnFinished

    sid = _session(engine)
    store.append(
        engine, session_id=sid, event=Event.of(TurnFinished(status="completed"), "t8")
    )  # nothing pending
    assert _trail(engine) == [] and audit.verify(engine).ok
    req = ApprovalRequired(
        approval_id="a9",
        call_id="w9",
        tool="kill_process",
        args={"pid": 4242},
        command="kill -TERM 4242",
        target="local",
        reason="orphan",
    )
    store.append(engine, session_id=sid, event=Event.of(req, "t9"))
    store.append(engine, session_id=sid, event=Event.of(TurnFinished(status="cancelled"), "t9"))
    kinds = [(e["kind"], e["actor"], e["detail"]["record"]["status"]) for e in _trail(engine)]
    assert kinds == [
        ("approval_request", "firstline", "pending"),
        ("approval_expired", "firstline", "expired"),
    ]
    assert audit.verify(engine).ok


def test_cutting_the_end_and_winding_the_head_back_is_caught_by_an_anchor(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(FIRSTLINE_DATABASE_URL=url, FIRSTLINE_HOME=str(tmp_path))
    engine = store.open_store(url)
    sid = _session(engine)
    _tool_run(engine, sid, 1)
    _tool_run(engine, sid, 2)
    anchors = tmp_path / "anchors.jsonl"
    sent = _cli(env, "anchor", "--to", str(anchors))
    assert sent.returncode == 0 and "appended to" in sent.stdout
    printed = json.loads(_cli(env, "anchor").stdout)
    assert printed["seq"] == 2 and printed["hash"] == json.loads(anchors.read_text())["hash"]
    assert _cli(env, "verify", "--anchor", str(anchors)).returncode == 0

    # the review's attack: delete the last entry and wind the head back to the one before
    with engine.begin() as conn:
        prev = conn.execute(sa.text("SELECT hash FROM audit_log WHERE id = 1")).scalar()
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = 2"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 1, hash = :h"), {"h": prev})
    assert _cli(env, "verify").returncode == 0  # the chain alone cannot tell
    caught = _cli(env, "verify", "--anchor", str(anchors))
    assert caught.returncode == 1 and "entries 2-2 missing" in caught.stdout and "wound back" in caught.stdout
    engine.dispose()


def test_anchor_can_be_posted_to_a_webhook(tmp_path):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.handle_request, daemon=True).start()
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    settings = Settings(database_url=url, home=tmp_path)
    engine = store.open_store(url)
    _tool_run(engine, _session(engine), 1)
    engine.dispose()
    assert cli_audit.anchor_cli(settings, f"http://127.0.0.1:{server.server_address[1]}/anchor") == 0
    server.server_close()
    assert json.loads(got[0])["seq"] == 1
