"""Decisions about a running turn wake its owner at once: an approval, a cancel or a force-close sent to
replica B of a turn that runs on replica A lands through PostgreSQL NOTIFY on `firstline_turns`, well before
the owner's 2 s safety-net poll would have found it. Two real server processes on one real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from datetime import datetime

import httpx
import pytest
from test_restart import stored_events

from assistant.turns import TurnBell

SANDBOX = "sandbox:nginx-port-conflict"
QUESTION = "please restart nginx on web-prod-01"
N = 5


def _waiting_turn(http: httpx.Client, a: str) -> tuple[str, str, str]:
    """A session on A whose turn waits for a person's approval: (session, turn, approval)."""
    sid = http.post(f"{a}/api/sessions", json={"target": SANDBOX}).json()["id"]
    tid = http.post(f"{a}/api/sessions/{sid}/messages", json={"content": QUESTION}).json()["turn_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = [
            r for r in http.get(f"{a}/api/sessions/{sid}/approvals").json() if r["status"] == "pending"
        ]
        if pending:
            return sid, tid, pending[0]["approval_id"]
        time.sleep(0.1)
    raise AssertionError("no pending approval")


def _landed(db_url: str, sid: str, pick) -> float:
    """When A recorded what the decision caused (the event's `at`, stamped just before A's commit)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hit = next((e for e in stored_events(db_url, sid) if pick(e)), None)
        if hit is not None:
            return datetime.fromisoformat(hit["at"]).timestamp()
        time.sleep(0.1)
    raise AssertionError("the decision never landed")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_decisions_on_another_replica_wake_the_owner_at_once(start_server, server_env, db_url):
    a = start_server(server_env).url
    b = start_server(server_env).url
    rng = random.Random(15)
    approve_s, cancel_s = [], []
    with httpx.Client(timeout=30) as http:
        _waiting_turn(http, a)  # warm-up: A's first turn loads the agent loop
        for _ in range(N):
            sid, _tid, approval_id = _waiting_turn(http, a)
            time.sleep(rng.uniform(0.05, 0.5))  # any phase of A's poll
            sent = time.time()
            r = http.post(f"{b}/api/sessions/{sid}/approvals/{approval_id}", json={"decision": "approve"})
            assert r.status_code == 200, r.text
            approve_s.append(_landed(db_url, sid, lambda e: e["type"] == "approval_decided") - sent)
        for _ in range(N):
            sid, tid, _approval_id = _waiting_turn(http, a)
            time.sleep(rng.uniform(0.05, 0.5))
            sent = time.time()
            assert http.post(f"{b}/api/sessions/{sid}/turns/{tid}/cancel").status_code == 202
            cancel_s.append(
                _landed(
                    db_url,
                    sid,
                    lambda e: e["type"] == "turn_finished" and e["data"]["status"] == "cancelled",
                )
                - sent
            )
        # force-closed on B: A, still waiting for the approval, stops at once and writes nothing more
        sid, tid, _approval_id = _waiting_turn(http, a)
        closed = http.post(f"{b}/api/sessions/{sid}/turns/{tid}/close", json={"reason": "test"})
        assert closed.status_code == 200, closed.text
        time.sleep(1.0)
        events = stored_events(db_url, sid)
        assert events[-1]["type"] == "turn_finished" and events[-1]["data"]["status"] == "interrupted"
        assert sum(e["type"] == "turn_finished" for e in events) == 1
        r = http.post(f"{a}/api/sessions/{sid}/messages", json={"content": "and now?"})
        assert r.status_code == 202  # A holds nothing of the closed turn: the session goes on

    # polling alone (every 2 s while push is live) would put the median near 1 s
    assert statistics.median(approve_s) < 0.5 and max(approve_s) < 1.5, approve_s
    assert statistics.median(cancel_s) < 0.5 and max(cancel_s) < 1.5, cancel_s


async def test_a_ring_wakes_only_this_processs_turns_from_any_thread():
    bell = TurnBell(safety_net_s=2.0)
    mine = bell.event("t-mine")
    assert bell.poll_s(0.2) == 0.2  # not pushed: the fast poll
    bell.set_pushed(True)
    assert bell.poll_s(0.2) == 2.0
    mine.clear()
    bell.any.clear()
    bell.ring("t-elsewhere")  # another replica's turn
    assert not mine.is_set() and not bell.any.is_set()
    threading.Thread(target=bell.ring, args=("t-mine",)).start()  # a request handler's thread
    await asyncio.wait_for(mine.wait(), 2)
    assert bell.any.is_set()
    bell.forget("t-mine")
    mine.clear()
    bell.ring("t-mine")
    assert not mine.is_set()
