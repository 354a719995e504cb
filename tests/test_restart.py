"""kill -9 the server in the middle of a turn, start it again on the same database.

Every event committed before the kill is still there (same seq, same data), the turn is marked
interrupted (with an explanatory error event), the session is idle and a new message works.
"""

from __future__ import annotations

import httpx
from fake_openai import FakeOpenAI, model_env
from test_sse import read_sse

from assistant import store

SANDBOX = "sandbox:nginx-port-conflict"


def stored_events(db_url: str, sid: str) -> list[dict]:
    engine = store.open_store(db_url)
    try:
        with store.reading(engine) as db:
            return [e.to_json() for e in store.list_events(db, session_id=sid)]
    finally:
        engine.dispose()


def test_kill9_mid_turn_then_restart(start_server, server_env, db_url):
    with FakeOpenAI(delay_s=0.05) as fake:
        env = {**server_env, **model_env(fake)}
        first = start_server(env)
        http = httpx.Client(base_url=first.url, timeout=30)
        sid = http.post("/api/sessions", json={"target": SANDBOX}).json()["id"]
        turn_id = http.post(
            f"/api/sessions/{sid}/messages", json={"content": "nginx on web-prod-01 is down"}
        ).json()["turn_id"]
        with http.stream("GET", f"/api/sessions/{sid}/events") as resp:
            seen = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "tool_call")
            first.kill9()  # right after the first tool call: mid-turn, no chance to clean up
        http.close()

        at_kill = stored_events(db_url, sid)
        assert [e["seq"] for e in at_kill] == list(range(1, len(at_kill) + 1))
        assert [e["data"] for e in seen] == at_kill[
            : len(seen)
        ]  # everything we were sent was committed first
        assert at_kill[-1]["type"] != "turn_finished"

        second = start_server(env)  # same database, new process: recovers the orphaned turn at startup
        with httpx.Client(base_url=second.url, timeout=30) as http:
            session = http.get(f"/api/sessions/{sid}").json()
            assert session["status"] == "idle" and session["running_turn_id"] is None
            assert [(t["id"], t["status"]) for t in http.get(f"/api/sessions/{sid}/turns").json()] == [
                (turn_id, "interrupted")
            ]
            with http.stream("GET", f"/api/sessions/{sid}/events") as resp:
                replay = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "turn_finished")
            assert [e["data"] for e in replay[: len(at_kill)]] == at_kill
            tail = replay[len(at_kill) :]
            assert [
                (e["event"], e["data"]["data"].get("kind") or e["data"]["data"].get("status")) for e in tail
            ] == [("error", "interrupted"), ("turn_finished", "interrupted")]

            fake.delay_s = 0.005
            r = http.post(f"/api/sessions/{sid}/messages", json={"content": "let's try again"})
            assert r.status_code == 202
            new_turn = r.json()["turn_id"]
            with http.stream("GET", f"/api/sessions/{sid}/events", params={"after": len(replay)}) as resp:
                again = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "turn_finished")
            assert again[0]["event"] == "user_message" and again[0]["data"]["turn_id"] == new_turn
            assert again[-1]["data"]["data"]["status"] == "completed"
            assert [int(e["id"]) for e in again] == list(range(len(replay) + 1, len(replay) + len(again) + 1))
            # the second turn saw the first one's history: the tool call left unanswered by the crash
            # was closed for the model, and the earlier user message is part of the conversation
            last_request = fake.requests[-1]["messages"]
            assert any(
                m.get("role") == "user" and "is down" in (m.get("content") or "") for m in last_request
            )
