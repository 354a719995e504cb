"""The SSE event stream against a real uvicorn server process on loopback, read with a real streaming client.

Disconnect mid-turn, resume with Last-Event-ID (and ?after=N): every seq 1..N arrives exactly once.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fake_openai import FakeOpenAI, model_env

from assistant import store
from assistant.events import Event, Token

SANDBOX = "sandbox:nginx-port-conflict"


def read_sse(lines, stop, timeout: float = 30.0) -> list[dict]:
    """Parse SSE by hand until `stop(events)` is true; comments (pings) are skipped."""
    events: list[dict] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    for line in lines:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {len(events)} events")
        if line == "":
            if "data" in current:
                events.append(
                    {
                        "id": current.get("id"),
                        "event": current.get("event"),
                        "data": json.loads(current["data"]),
                    }
                )
                if stop(events):
                    return events
            current = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        current[name] = current.get(name, "") + ("\n" if name == "data" and name in current else "") + value
    return events


@pytest.fixture
def fake():
    with FakeOpenAI(delay_s=0.02) as f:
        yield f


def test_disconnect_and_resume_is_lossless(start_server, server_env, fake, db_url):
    server = start_server({**server_env, **model_env(fake)})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        sid = http.post("/api/sessions", json={"target": SANDBOX}).json()["id"]
        assert (
            http.post(
                f"/api/sessions/{sid}/messages", json={"content": "nginx on web-prod-01 returns 503"}
            ).status_code
            == 202
        )
        with http.stream("GET", f"/api/sessions/{sid}/events") as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            first = read_sse(resp.iter_lines(), lambda evs: len(evs) >= 8)
        assert http.get(f"/api/sessions/{sid}").json()["status"] == "running"  # we left mid-turn
        time.sleep(0.6)  # the turn goes on without us
        with http.stream(
            "GET", f"/api/sessions/{sid}/events", headers={"Last-Event-ID": first[-1]["id"]}
        ) as resp:
            rest = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "turn_finished")
        session = http.get(f"/api/sessions/{sid}").json()
        with http.stream("GET", f"/api/sessions/{sid}/events", params={"after": 5}) as resp:
            lines = resp.iter_lines()
            tail = read_sse(lines, lambda evs: evs[-1]["event"] == "turn_finished")
            outside = append_from_this_process(db_url, sid, lines)
    seqs = [int(e["id"]) for e in first + rest]
    n = session["last_seq"]
    assert session["status"] == "idle" and n > 20
    assert seqs == list(range(1, n + 1))  # each once, in order, no gap across the reconnect
    assert [int(e["id"]) for e in tail] == list(range(6, n + 1))
    for e in first + rest:
        assert e["data"]["seq"] == int(e["id"]) and e["data"]["type"] == e["event"]
        assert e["data"]["session_id"] == sid
    kinds = [e["event"] for e in first + rest]
    assert kinds[:2] == ["user_message", "turn_started"] and kinds[-1] == "turn_finished"
    assert {"token", "tool_call", "tool_result", "finding", "message"} <= set(kinds)
    assert len(rest) > 0 and len(first) == 8
    texts, elapsed = outside
    assert texts == [(n + 1, "from outside 0"), (n + 2, "from outside 1")] and elapsed < 3.0


def append_from_this_process(db_url: str, sid: str, lines) -> tuple[list, float]:
    """The DB is the source of truth: events appended outside the server still stream (within IDLE_POLL_S = 2 s)."""
    engine = store.open_store(db_url)
    try:
        t0 = time.monotonic()
        for i in range(2):
            store.append(engine, session_id=sid, event=Event.of(Token(text=f"from outside {i}")))
        got = read_sse(lines, lambda evs: len(evs) == 2, timeout=10)
        return [(int(e["id"]), e["data"]["data"]["text"]) for e in got], time.monotonic() - t0
    finally:
        engine.dispose()


async def test_a_stream_takes_the_hand_off_while_its_query_waits_for_a_thread(engine):
    """Under a burst of new turns a stream's catch-up query can wait behind their writes; an event handed
    over meanwhile is sent at once, and when nothing is handed over the query's answer is used."""
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from web.routes import events as route

    with store.writing(engine) as db:
        sid = store.create_session(db, target=SANDBOX, model="firstline/runbook", title=None).id
    store.append(engine, session_id=sid, event=Event.of(Token(text="stored"), "t1"))
    loop, pool, gate = asyncio.get_running_loop(), ThreadPoolExecutor(1), threading.Event()
    loop.set_default_executor(pool)
    busy = loop.run_in_executor(None, gate.wait)  # the only thread is taken: the query has to wait
    notifier = store.Notifier()
    try:
        with notifier.subscribe(sid) as sub:
            reading = asyncio.create_task(route._stored_or_handed_over(engine, sub, sid, 0))
            await asyncio.sleep(0.05)
            assert not reading.done()
            handed = {"seq": 1, "type": "token", "data": {"text": "handed over"}}
            notifier.notify(sid, [handed])
            assert await asyncio.wait_for(reading, 5) == [handed]

            gate.set()
            await busy
            rows = await asyncio.wait_for(route._stored_or_handed_over(engine, sub, sid, 0), 5)
            assert [(r["seq"], r["data"]["text"]) for r in rows] == [(1, "stored")]
    finally:
        gate.set()
        pool.shutdown(wait=True)
