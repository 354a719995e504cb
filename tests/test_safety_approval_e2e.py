"""Acceptance: a write action through the real server API waits for a person, runs once on approve,
never on deny, and the audit trail shows both the decision and the execution.

A real `python -m web` process on loopback, a real SQLite file / PostgreSQL database, the
sandbox target, and the local stand-in for a paid model API scripted to propose
`restart_service nginx`. The audit trail is read from the database by this process.
"""

from __future__ import annotations

import json
import time

import httpx
from conftest import wait_for
from fake_openai import FakeOpenAI, model_env

from assistant import audit, store

SANDBOX = "sandbox:nginx-port-conflict"
SCRIPT = [
    {
        "text": "nginx is down; restarting it should bring the site back.",
        "calls": [("restart_service", {"service": "nginx"})],
    },
    {"text": "I tried the restart; the result is above."},
]


def _pending(c: httpx.Client, sid: str) -> dict:
    def find():
        rows = c.get(f"/api/sessions/{sid}/approvals").json()
        return next((a for a in rows if a["status"] == "pending"), None)

    return wait_for(find, "a pending approval")


def _idle(c: httpx.Client, sid: str) -> None:
    wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "idle", "the turn to end")


def _restart_results(c: httpx.Client, sid: str) -> list[dict]:
    events = []
    after = 0
    with c.stream("GET", f"/api/sessions/{sid}/events?after={after}") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                ev = json.loads(line[5:])
                events.append(ev)
                if (
                    ev["type"] == "turn_finished"
                    and ev["seq"] == c.get(f"/api/sessions/{sid}").json()["last_seq"]
                ):
                    break
    return [
        e["data"] for e in events if e["type"] == "tool_result" and e["data"]["tool"] == "restart_service"
    ]


def _trail(db_url: str, sid: str) -> tuple[list[dict], bool]:
    engine = store.open_store(db_url)
    try:
        return [e for e in audit.export(engine) if e["session_id"] == sid], audit.verify(engine).ok
    finally:
        engine.dispose()


def _start(c: httpx.Client) -> str:
    r = c.post("/api/sessions", json={"target": SANDBOX, "title": "e2e approval"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (
        c.post(f"/api/sessions/{sid}/messages", json={"content": "restart nginx please"}).status_code == 202
    )
    return sid


def _users(db_url: str, **roles: str) -> dict[str, dict[str, str]]:
    """Named users made the way `firstline users add` makes them; name -> the Authorization header."""
    from assistant.store.users import add_user

    engine = store.open_store(db_url)
    try:
        with store.writing(engine) as db:
            return {
                name: {"Authorization": f"Bearer {add_user(db, name=name, role=role)[1]}"}
                for name, role in roles.items()
            }
    finally:
        engine.dispose()


def test_write_waits_runs_once_on_approve_never_on_deny(start_server, server_env, db_url):
    people = _users(db_url, carol="responder", alice="approver", bob="approver")
    with FakeOpenAI(script=SCRIPT, delay_s=0.0) as fake:
        server = start_server({**server_env, **model_env(fake)})
        with httpx.Client(base_url=server.url, timeout=30, headers=people["carol"]) as c:
            # ---- approve
            sid = _start(c)
            pending = _pending(c, sid)
            assert (pending["tool"], pending["args"], pending["command"]) == (
                "restart_service",
                {"service": "nginx"},
                "systemctl restart nginx",
            )
            time.sleep(1.0)  # the turn is parked on the decision: nothing may have run meanwhile
            calls = [
                t for t in c.get(f"/api/sessions/{sid}/tool_calls").json() if t["tool"] == "restart_service"
            ]
            assert len(calls) == 1 and calls[0]["output_sha256"] is None and calls[0]["exit_code"] is None
            trail, _ = _trail(db_url, sid)
            assert not any(e["tool"] == "restart_service" and e["kind"] == "tool_execution" for e in trail)
            assert [e["kind"] for e in trail if e["tool"] == "restart_service"] == ["approval_request"]
            assert c.get(f"/api/sessions/{sid}").json()["status"] == "running"

            r = c.post(
                f"/api/sessions/{sid}/approvals/{pending['approval_id']}",
                json={
                    "decision": "approve",
                    "comment": "port is free now",
                    "by": "mallory",
                },  # `by` is ignored
                headers=people["alice"],
            )
            assert r.status_code == 200 and r.json()["status"] == "approved"
            _idle(c, sid)
            again = c.post(
                f"/api/sessions/{sid}/approvals/{pending['approval_id']}",
                json={"decision": "deny"},
                headers=people["bob"],
            )
            assert again.status_code == 409  # a decision is final

            ran = _restart_results(c, sid)
            assert len(ran) == 1 and ran[0]["output_sha256"] and ran[0]["exit_code"] is not None
            trail, intact = _trail(db_url, sid)
            assert intact
            decision = [e for e in trail if e["kind"] == "approval_decision"]
            executed = [e for e in trail if e["tool"] == "restart_service" and e["kind"] == "tool_execution"]
            assert [
                (d["approval_id"], d["actor"], d["detail"]["decision"], d["detail"]["comment"])
                for d in decision
            ] == [(pending["approval_id"], "alice", "approve", "port is free now")]
            assert len(executed) == 1 and executed[0]["detail"]["outcome"] == "executed"
            assert executed[0]["approval_id"] == pending["approval_id"]
            assert executed[0]["detail"]["approved_by"] == "alice"
            assert executed[0]["command"] == "systemctl restart nginx"
            assert executed[0]["output_sha256"] == ran[0]["output_sha256"]
            assert decision[0]["id"] < executed[0]["id"]  # decided, then ran

            # ---- deny
            sid2 = _start(c)
            pending2 = _pending(c, sid2)
            r = c.post(
                f"/api/sessions/{sid2}/approvals/{pending2['approval_id']}",
                json={"decision": "deny", "comment": "not during peak"},
                headers=people["bob"],
            )
            assert r.status_code == 200 and r.json()["status"] == "denied"
            _idle(c, sid2)
            refused = _restart_results(c, sid2)
            assert len(refused) == 1 and refused[0]["ok"] is False and refused[0]["output_sha256"] is None
            assert "denied by bob" in refused[0]["error"]
            trail2, intact = _trail(db_url, sid2)
            assert intact
            assert [e["detail"]["decision"] for e in trail2 if e["kind"] == "approval_decision"] == ["deny"]
            assert [
                e["detail"]["outcome"]
                for e in trail2
                if e["tool"] == "restart_service" and e["kind"] == "tool_execution"
            ] == ["not_run"]
            # the session stays usable after a denial
            assert (
                c.post(f"/api/sessions/{sid2}/messages", json={"content": "ok, what else?"}).status_code
                == 202
            )
