"""Cross-replica decisions: a person approves, or cancels, on replica B a turn that runs on replica A.

Used by `python bench/cross_replica.py --decisions N`. Each of N turns (offline model, sandbox target, a
question that needs a write action) waits on A for a person's approval. One decision at a time is posted to
B, after a random pause (so decisions land at every phase of any poll). Latency = the `at` of the event A
records for it (`approval_decided`, or `turn_finished(cancelled)`), stamped just before A commits it, minus
the moment the client sent the request to B: one machine, one clock. It covers B's request and commit, the
wake-up of A (PostgreSQL NOTIFY, or A's safety-net poll) and A's own read and write.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
from benchlib import iso_ts, pct

QUESTION = "please restart nginx on web-prod-01"
TARGET = "sandbox:nginx-port-conflict"
GAP_S = (0.05, 0.5)


def _events(url: str, sid: str) -> list[dict[str, Any]]:
    from assistant import store

    engine = store.open_store(url)
    try:
        with store.reading(engine) as db:
            return [e.to_json() for e in store.list_events(db, session_id=sid)]
    finally:
        engine.dispose()


def _wait(check, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _ask(http: httpx.Client, a_url: str, b_url: str, n: int) -> dict[str, tuple[str, str]]:
    """N sessions whose turn on A waits for approval: session id -> (turn id, approval id)."""
    turns = {}
    for _ in range(n):
        sid = http.post(f"{a_url}/api/sessions", json={"target": TARGET}).json()["id"]
        turns[sid] = http.post(f"{a_url}/api/sessions/{sid}/messages", json={"content": QUESTION}).json()[
            "turn_id"
        ]

    def pending(sid: str) -> str | None:
        rows = http.get(f"{b_url}/api/sessions/{sid}/approvals").json()
        return next((r["approval_id"] for r in rows if r["status"] == "pending"), None)

    return {
        sid: (tid, _wait(lambda s=sid: pending(s), 120, "a pending approval")) for sid, tid in turns.items()
    }


def _latencies(db_url: str, sent: dict[str, float], kind: str) -> list[float]:
    def stamped(sid: str) -> float | None:
        for ev in _events(db_url, sid):
            if kind == "approve" and ev["type"] == "approval_decided":
                return iso_ts(ev["at"])
            if kind == "cancel" and ev["type"] == "turn_finished" and ev["data"]["status"] == "cancelled":
                return iso_ts(ev["at"])
        return None

    out = []
    for sid, t in sent.items():
        at = _wait(lambda s=sid: stamped(s), 60, f"the {kind} to land")
        out.append((at - t) * 1000)
    return out


def run(a_url: str, b_url: str, db_url: str, n: int) -> dict[str, Any]:
    """Approve N turns, then cancel N others, each on B while A runs it; latencies in ms."""
    rng = random.Random(20)
    with httpx.Client(timeout=30) as http:
        asked = _ask(http, a_url, b_url, n)
        sent: dict[str, float] = {}
        for sid, (_tid, approval_id) in asked.items():
            time.sleep(rng.uniform(*GAP_S))
            sent[sid] = time.time()
            r = http.post(f"{b_url}/api/sessions/{sid}/approvals/{approval_id}", json={"decision": "approve"})
            r.raise_for_status()
        approve_ms = _latencies(db_url, sent, "approve")

        asked = _ask(http, a_url, b_url, n)
        sent = {}
        for sid, (tid, _approval_id) in asked.items():
            time.sleep(rng.uniform(*GAP_S))
            sent[sid] = time.time()
            r = http.post(f"{b_url}/api/sessions/{sid}/turns/{tid}/cancel")
            r.raise_for_status()
        cancel_ms = _latencies(db_url, sent, "cancel")
    return {
        "n": n,
        "approve_p50": pct(approve_ms, 50),
        "approve_p99": pct(approve_ms, 99),
        "approve_max": max(approve_ms),
        "cancel_p50": pct(cancel_ms, 50),
        "cancel_p99": pct(cancel_ms, 99),
        "cancel_max": max(cancel_ms),
    }
