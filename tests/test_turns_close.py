"""Force-closing a stuck turn: through the API and with `firstline turns close`, against a live server whose
turn waits for an approval. The owner stops at once, the session takes a new message, both closes are in
the audit chain, and the chain still verifies."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from replica_pods import FIRSTLINE, Pod
from test_sse import read_sse

SANDBOX = "sandbox:nginx-port-conflict"
ASK_FOR_A_WRITE = "please restart nginx on web-prod-01"


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    return {
        **base,
        "FIRSTLINE_HOME": str(tmp_path / "home"),
        "FIRSTLINE_DATABASE_URL": db_url,
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path):
    pod = Pod(None, env, tmp_path).start()
    yield pod
    pod.stop()


def firstline(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FIRSTLINE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def waiting_turn(http: httpx.Client, sid: str, after: int = 0) -> tuple[str, list[dict]]:
    """Post a message that asks for a write; return the turn id once it waits for the approval."""
    turn = http.post(f"/api/sessions/{sid}/messages", json={"content": ASK_FOR_A_WRITE}).json()["turn_id"]
    with http.stream("GET", f"/api/sessions/{sid}/events", params={"after": after}) as resp:
        seen = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "approval_required")
    return turn, seen


def test_a_turn_is_force_closed_by_api_and_by_cli_and_both_are_audited(server, env):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        sid = http.post("/api/sessions", json={"target": SANDBOX}).json()["id"]
        first, seen = waiting_turn(http, sid)
        assert http.post(f"/api/sessions/{sid}/turns/{first}/close", json={"reason": ""}).status_code == 422
        assert http.post(f"/api/sessions/{sid}/turns/t_nope/close", json={"reason": "x"}).status_code == 404
        closed = http.post(
            f"/api/sessions/{sid}/turns/{first}/close",
            json={"reason": "replica pod-a is gone", "by": "alice"},
        )
        assert closed.status_code == 200 and closed.json()["status"] == "interrupted"
        again = http.post(f"/api/sessions/{sid}/turns/{first}/close", json={"reason": "twice"})
        assert again.status_code == 409
        with http.stream("GET", f"/api/sessions/{sid}/events", params={"after": len(seen)}) as resp:
            tail = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "turn_finished")
        assert [e["event"] for e in tail] == ["error", "turn_finished"]
        assert "closed by alice: replica pod-a is gone" in tail[0]["data"]["data"]["message"]

        second, _ = waiting_turn(http, sid, after=int(tail[-1]["id"]))  # the session took a new message
        done = firstline(
            env, "turns", "close", second, "--reason", "stuck after a node failure", "--by", "bob"
        )
        assert done.returncode == 0, done.stderr
        assert "interrupted" in done.stdout
        assert http.get(f"/api/sessions/{sid}").json()["status"] == "idle"
        turns = {t["id"]: t["status"] for t in http.get(f"/api/sessions/{sid}/turns").json()}
        assert turns == {first: "interrupted", second: "interrupted"}
        with http.stream("GET", f"/api/sessions/{sid}/events") as resp:
            everything = read_sse(
                resp.iter_lines(),
                lambda evs: evs[-1]["event"] == "turn_finished" and evs[-1]["data"]["turn_id"] == second,
            )
    ends = [e["data"]["turn_id"] for e in everything if e["event"] == "turn_finished"]
    assert ends == [first, second]  # each ended once; the owner wrote nothing after its turn was closed
    refused = firstline(env, "turns", "close", second)
    assert refused.returncode == 2 and "not running" in refused.stderr
    assert firstline(env, "audit", "verify").returncode == 0
    exported = [
        json.loads(line) for line in firstline(env, "audit", "export").stdout.splitlines() if line.strip()
    ]
    closes = [(e["kind"], e["actor"], e["turn_id"]) for e in exported if e["kind"] == "turn_force_closed"]
    assert closes == [("turn_force_closed", "alice", first), ("turn_force_closed", "bob", second)]
