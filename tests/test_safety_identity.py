"""Issue 15 items 5, 8 and 9: approvals bound to an authenticated person with a role; weak tokens and
addresses that only look like loopback are refused.

Users are made with the real CLI (`firstline users add`), the server is a real `python -m web` process,
the model is the local stand-in for a paid API proposing `restart_service nginx`.
"""

from __future__ import annotations

import getpass
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
from conftest import ROOT, free_port
from fake_openai import FakeOpenAI, model_env

from assistant import audit, store

ADMIN_TOKEN = "adm-" + "5e1f" * 10
SCRIPT = [
    {"text": "Restarting nginx should help.", "calls": [("restart_service", {"service": "nginx"})]},
    {"text": "Done; see above."},
]


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


def _add(env: dict[str, str], name: str, role: str) -> dict[str, str]:
    token = _cli(env, "users", "add", name, "--role", role).stdout.strip()
    assert token.startswith("fl_") and len(token) >= 40
    return {"Authorization": f"Bearer {token}"}


def _pending(c: httpx.Client, sid: str, headers: dict[str, str] | None = None) -> dict:
    deadline = time.monotonic() + 60  # a loaded CI machine (parallel workers) starts turns slower
    while time.monotonic() < deadline:
        rows = [
            a
            for a in c.get(f"/api/sessions/{sid}/approvals", headers=headers).json()
            if a["status"] == "pending"
        ]
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError("no pending approval")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_roles_and_the_approver_is_the_authenticated_person(start_server, server_env, db_url):
    alice, bob, carol = (
        _add(server_env, n, r) for n, r in (("alice", "approver"), ("bob", "viewer"), ("carol", "responder"))
    )
    listed = _cli(server_env, "users", "list").stdout
    assert "alice" in listed and "approver" in listed and "viewer" in listed
    raw = "\n".join(
        repr(r) for r in sqlite3.connect(db_url.removeprefix("sqlite:///")).execute("SELECT * FROM users")
    )
    assert alice["Authorization"][7:] not in raw  # only the hash is stored
    with FakeOpenAI(script=SCRIPT, delay_s=0.0) as fake:
        server = start_server({**server_env, **model_env(fake), "FIRSTLINE_AUTH_TOKEN": ADMIN_TOKEN})
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/api/sessions").status_code == 401  # users exist: nobody is anonymous
            assert c.get("/api/sessions", headers=bob).status_code == 200
            denied = c.post("/api/sessions", json={"target": "sandbox:nginx-port-conflict"}, headers=bob)
            assert denied.status_code == 403 and "responder" in denied.json()["detail"]
            sid = c.post(
                "/api/sessions", json={"target": "sandbox:nginx-port-conflict"}, headers=carol
            ).json()["id"]
            assert (
                c.post(
                    f"/api/sessions/{sid}/messages", json={"content": "restart nginx"}, headers=carol
                ).status_code
                == 202
            )
            pending = _pending(c, sid, carol)
            url = f"/api/sessions/{sid}/approvals/{pending['approval_id']}"
            assert (
                c.post(url, json={"decision": "approve"}, headers=carol).status_code == 403
            )  # not an approver
            assert c.post(url, json={"decision": "approve"}, headers=bob).status_code == 403
            decided = c.post(url, json={"decision": "approve", "by": "attacker"}, headers=alice)
            assert decided.status_code == 200 and decided.json()["decided_by"] == "alice"
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # the single token still works, as the admin
            assert c.get("/api/sessions", headers=admin).status_code == 200
            _cli(server_env, "users", "disable", "alice")
            time.sleep(5.5)  # the server caches users for 5 s
            assert c.get("/api/sessions", headers=alice).status_code == 401
    engine = store.open_store(db_url)
    try:
        actors = {e["actor"] for e in audit.export(engine) if e["kind"] == "approval_decision"}
        assert actors == {"alice"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_without_users_or_token_a_loopback_server_records_the_local_user(start_server, server_env, db_url):
    with FakeOpenAI(script=SCRIPT, delay_s=0.0) as fake:
        server = start_server({**server_env, **model_env(fake)})
        with httpx.Client(base_url=server.url, timeout=30) as c:
            sid = c.post("/api/sessions", json={"target": "sandbox:nginx-port-conflict"}).json()["id"]
            c.post(f"/api/sessions/{sid}/messages", json={"content": "restart nginx"})
            pending = _pending(c, sid)
            r = c.post(
                f"/api/sessions/{sid}/approvals/{pending['approval_id']}",
                json={"decision": "deny", "by": "attacker"},
            )
            assert r.status_code == 200 and r.json()["decided_by"] == f"local:{getpass.getuser()}"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_refuses_weak_tokens_and_names_that_only_look_like_loopback(server_env):
    port = str(free_port())
    weak = _cli(
        {**server_env, "FIRSTLINE_AUTH_TOKEN": "a"}, "serve", "--host", "0.0.0.0", "--port", port, check=False
    )
    assert weak.returncode != 0 and "at least 32" in weak.stderr
    fake_loopback = _cli(server_env, "serve", "--host", "127.wild.test", "--port", port, check=False)
    assert fake_loopback.returncode != 0 and "refusing to listen on 127.wild.test" in fake_loopback.stderr
    bad_role = _cli(server_env, "users", "add", "dave", "--role", "root", check=False)
    assert bad_role.returncode != 0 and "viewer, responder, approver, admin" in bad_role.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_waiting_for_approval_frees_the_slot_and_pending_approvals_are_capped(start_server, server_env):
    """Issue 15 item 7: 32 sessions parked on approvals held all 32 turn slots for 30 minutes."""
    env = {**server_env, "FIRSTLINE_MAX_RUNNING_HOSTED_TURNS": "1", "FIRSTLINE_MAX_PENDING_APPROVALS": "1"}
    with FakeOpenAI(script=SCRIPT, delay_s=0.0) as fake:
        server = start_server({**env, **model_env(fake)})
        with httpx.Client(base_url=server.url, timeout=30) as c:
            first, second = (
                c.post("/api/sessions", json={"target": "sandbox:nginx-port-conflict"}).json()["id"]
                for _ in range(2)
            )
            c.post(f"/api/sessions/{first}/messages", json={"content": "restart nginx"})
            pending = _pending(c, first)  # parked on a person, with the only slot given back
            c.post(f"/api/sessions/{second}/messages", json={"content": "restart nginx too"})
            deadline = time.monotonic() + 30
            while c.get(f"/api/sessions/{second}").json()["status"] != "idle":
                assert time.monotonic() < deadline, "the second session never ran while the first waited"
                time.sleep(0.1)
            refused = [
                a
                for a in c.get(f"/api/sessions/{second}/tool_calls").json()
                if a["tool"] == "restart_service"
            ]
            assert refused and "approvals are already waiting" in (refused[0]["error"] or "")
            assert c.get(f"/api/sessions/{first}").json()["status"] == "running"
            c.post(f"/api/sessions/{first}/approvals/{pending['approval_id']}", json={"decision": "approve"})
            while c.get(f"/api/sessions/{first}").json()["status"] != "idle":
                assert time.monotonic() < deadline + 30, "the approved turn never got its slot back"
                time.sleep(0.1)
