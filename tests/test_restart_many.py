"""kill -9 the server with 35 turns running, start it again on the same database (issues 15 and 20: "held").

Every turn ends exactly once, as interrupted; every event committed before the kill is still there, unchanged,
and every event a stream was sent had been committed; each session then takes a new message that completes.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fake_openai import FakeOpenAI, model_env
from test_restart import SANDBOX, stored_events

N = 35


def _follow(url: str, sid: str, seen: list[dict], ready: threading.Event) -> None:
    """Collect the stream's events (`id` and parsed `data`) until the server dies."""
    import json

    try:
        with httpx.stream("GET", f"{url}/api/sessions/{sid}/events", timeout=60) as resp:
            ready.set()
            current: dict[str, str] = {}
            for line in resp.iter_lines():
                if line == "" and "data" in current:
                    seen.append(json.loads(current["data"]))
                    current = {}
                elif line and not line.startswith(":"):
                    name, _, value = line.partition(":")
                    current[name] = value.removeprefix(" ")
    except httpx.HTTPError:
        pass  # the kill
    finally:
        ready.set()


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_kill9_with_35_turns_running_then_restart(start_server, server_env, db_url):
    with FakeOpenAI(delay_s=0.2) as fake:  # a turn takes 15+ s: all 35 are mid-turn at the kill
        env = {**server_env, **model_env(fake)}
        first = start_server(env)
        http = httpx.Client(base_url=first.url, timeout=30)
        sids = [http.post("/api/sessions", json={"target": SANDBOX}).json()["id"] for _ in range(N)]
        seen: dict[str, list[dict]] = {sid: [] for sid in sids}
        readers = []
        for sid in sids:
            ready = threading.Event()
            t = threading.Thread(target=_follow, args=(first.url, sid, seen[sid], ready), daemon=True)
            t.start()
            readers.append((t, ready))
        for _, ready in readers:
            assert ready.wait(30)
        turns = {}
        for sid in sids:
            r = http.post(f"/api/sessions/{sid}/messages", json={"content": "nginx on web-prod-01 is down"})
            assert r.status_code == 202
            turns[sid] = r.json()["turn_id"]
        http.close()
        _wait(
            lambda: all(any(e["type"] == "tool_call" for e in seen[sid]) for sid in sids),
            120,
            "a tool call in every turn",
        )
        first.kill9()
        for t, _ in readers:
            t.join(30)

        at_kill = {sid: stored_events(db_url, sid) for sid in sids}
        for sid in sids:
            events = at_kill[sid]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert not any(e["type"] == "turn_finished" for e in events), "a turn ended before the kill"
            assert seen[sid] == events[: len(seen[sid])], "a stream was sent an event that was not committed"

        second = start_server(env)  # same database, new process: recovers the orphaned turns at start-up
        with httpx.Client(base_url=second.url, timeout=30) as http:
            for sid in sids:
                assert [(t["id"], t["status"]) for t in http.get(f"/api/sessions/{sid}/turns").json()] == [
                    (turns[sid], "interrupted")
                ]
                session = http.get(f"/api/sessions/{sid}").json()
                assert session["status"] == "idle" and session["running_turn_id"] is None
                after = stored_events(db_url, sid)
                assert after[: len(at_kill[sid])] == at_kill[sid]  # nothing lost, nothing rewritten
                tail = after[len(at_kill[sid]) :]
                assert [(e["type"], e["data"].get("kind") or e["data"].get("status")) for e in tail] == [
                    ("error", "interrupted"),
                    ("turn_finished", "interrupted"),
                ]

            fake.delay_s = 0.002
            again = {}
            for sid in sids:
                r = http.post(f"/api/sessions/{sid}/messages", json={"content": "let's try again"})
                assert r.status_code == 202, r.text
                again[sid] = r.json()["turn_id"]
            _wait(
                lambda: all(http.get(f"/api/sessions/{sid}").json()["status"] == "idle" for sid in sids),
                180,
                "every new turn to finish",
            )
        for sid in sids:
            events = stored_events(db_url, sid)
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            ends = [(e["turn_id"], e["data"]["status"]) for e in events if e["type"] == "turn_finished"]
            assert ends == [(turns[sid], "interrupted"), (again[sid], "completed")]  # each turn ends once
