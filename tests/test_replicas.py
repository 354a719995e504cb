"""Two and three `firstline serve` replicas on one PostgreSQL, each in UTS and PID namespaces of its own
(pod-like: its own hostname, and PID 1). Issue 20's failures, reproduced and fixed:

- a replica killed mid-turn and replaced under another hostname: its turn is closed within lease + 5 s by
  the lease (nothing else can prove it dead), and the session takes a new message;
- the same hostname, separate PID namespaces (both PID 1): nobody mistakes the other for dead, the turn
  completes, and a second message meanwhile is refused (409), not run alongside.
Every session then holds exactly one end per turn, nothing of a turn after its end, and turns never overlap.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from conftest import _reset_pg
from replica_pods import Pod, pods_available
from slow_http import SlowHTTP, local_target_env
from sqlmodel import select
from test_sse import read_sse

from assistant import store

pytestmark = pytest.mark.postgres
SANDBOX = "sandbox:nginx-port-conflict"


@pytest.fixture
def pod_env(pg_database: str, tmp_path: Path):
    reason = pods_available()
    if reason:
        pytest.skip(reason)
    _reset_pg(pg_database)

    def env(lease_s: float, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
        return {
            **base,
            "FIRSTLINE_HOME": str(tmp_path / "home"),
            "FIRSTLINE_DATABASE_URL": pg_database,
            "FIRSTLINE_TURN_LEASE_S": str(lease_s),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            **local_target_env(),
            **extra,
        }

    return env


@pytest.fixture
def pods(tmp_path: Path):
    started: list[Pod] = []

    def start(hostname: str, env: dict[str, str]) -> Pod:
        pod = Pod(hostname, env, tmp_path)
        started.append(pod)
        return pod.start()

    yield start
    for pod in started:
        pod.stop()


def test_a_killed_replica_loses_its_turn_by_lease_and_the_session_goes_on(pod_env, pods, pg_database):
    lease_s = 3.0
    env = pod_env(lease_s)
    with SlowHTTP(delay_s=6.5) as slow, httpx.Client(timeout=30) as http:
        pod_a, pod_b = pods("pod-a", env), pods("pod-b", env)
        sid = http.post(f"{pod_a.url}/api/sessions", json={"target": "local"}).json()["id"]
        turn = http.post(f"{pod_a.url}/api/sessions/{sid}/messages", json={"content": slow.question}).json()[
            "turn_id"
        ]
        with http.stream(
            "GET", f"{pod_b.url}/api/sessions/{sid}/events"
        ) as resp:  # watched from the other pod
            lines = resp.iter_lines()
            read_sse(lines, lambda evs: evs[-1]["event"] == "tool_call")  # pod-a waits on the slow dependency
            pod_a.kill9()
            killed = datetime.now().astimezone()
            replacement: list[Pod] = []
            starting = threading.Thread(target=lambda: replacement.append(pods("pod-a-2", env)))
            starting.start()  # as Kubernetes would, under a new name
            tail = read_sse(lines, lambda evs: evs[-1]["event"] == "turn_finished", timeout=lease_s + 30)
            starting.join(90)
        finished = tail[-1]["data"]
        assert finished["turn_id"] == turn and finished["data"]["status"] == "interrupted"
        # Closed by the lease; or, when the recovering replica's PID namespace has the dead one's identity (a
        # namespace id the kernel reused), by seeing that owner's process gone. Either way: once, in time.
        reason = tail[-2]["data"]["data"]["message"]
        assert tail[-2]["event"] == "error" and (
            "stopped renewing its lease" in reason or "process 1 on pod-a exited" in reason
        ), reason
        closed_after = (datetime.fromisoformat(finished["at"]) - killed).total_seconds()
        assert closed_after <= lease_s + 5, closed_after
        slow.delay_s = 0.05
        again = http.post(
            f"{replacement[0].url}/api/sessions/{sid}/messages", json={"content": slow.question}
        )
        assert again.status_code == 202
        with http.stream(
            "GET", f"{pod_b.url}/api/sessions/{sid}/events", headers={"Last-Event-ID": tail[-1]["id"]}
        ) as resp:
            second = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "turn_finished", timeout=60)
        assert second[0]["data"]["turn_id"] == again.json()["turn_id"]
        assert second[-1]["data"]["data"]["status"] == "completed"
    assert_one_turn_at_a_time(pg_database, sid)


def test_same_hostname_in_separate_pid_namespaces_is_no_proof_of_death(pod_env, pods, pg_database):
    """pod-a's turn waits for a person's approval (as long as it takes); a second pod named "pod" too, also
    PID 1, starts meanwhile (its start-up recovery runs) and keeps recovering every lease/5 s."""
    lease_s = 1.5
    env = pod_env(lease_s)
    with httpx.Client(timeout=30) as http:
        pod_a = pods("pod", env)
        sid = http.post(f"{pod_a.url}/api/sessions", json={"target": SANDBOX}).json()["id"]
        http.post(
            f"{pod_a.url}/api/sessions/{sid}/messages",
            json={"content": "please restart nginx on web-prod-01"},
        )
        with http.stream("GET", f"{pod_a.url}/api/sessions/{sid}/events") as resp:
            lines = resp.iter_lines()
            asked = read_sse(lines, lambda evs: evs[-1]["event"] == "approval_required")
            pod_b = pods("pod", env)
            time.sleep(4 * lease_s)
            refused = http.post(
                f"{pod_b.url}/api/sessions/{sid}/messages", json={"content": "and meanwhile?"}
            )
            assert refused.status_code == 409  # still pod-a's running turn: not closed, not run alongside
            approval_id = asked[-1]["data"]["data"]["approval_id"]
            decided = http.post(
                f"{pod_b.url}/api/sessions/{sid}/approvals/{approval_id}",
                json={"decision": "deny", "by": "alice"},
            )
            assert decided.status_code == 200
            tail = read_sse(lines, lambda evs: evs[-1]["event"] == "turn_finished", timeout=60)
    assert tail[-1]["data"]["data"]["status"] == "completed"
    assert not [e for e in asked + tail if e["event"] == "error"]
    engine = store.open_store(pg_database)
    try:
        with store.reading(engine) as db:
            (turn,) = store.turn_statuses(db, session_id=sid)
            replicas = list(db.exec(select(store.ReplicaRow)))
    finally:
        engine.dispose()
    assert turn.owner_host == "pod" and turn.owner_pid == 1  # what used to fool recovery
    assert {r.host for r in replicas} == {"pod"} and {r.pid for r in replicas} == {1} and len(replicas) == 2
    assert_one_turn_at_a_time(pg_database, sid)


def assert_one_turn_at_a_time(db_url: str, sid: str) -> None:
    """Every turn ends exactly once, nothing of a turn follows its end, and a turn starts only after the last
    one ended (so two never ran at once in the session)."""
    engine = store.open_store(db_url)
    try:
        with store.reading(engine) as db:
            events = store.list_events(db, session_id=sid)
    finally:
        engine.dispose()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    current, ended = None, set()
    for ev in events:
        assert ev.turn_id not in ended, f"event {ev.seq} ({ev.type.value}) after its turn ended"
        if ev.type.value == "user_message":
            assert current is None, f"turn {ev.turn_id} started while {current} was running"
            current = ev.turn_id
        assert ev.turn_id == current
        if ev.type.value == "turn_finished":
            ended.add(ev.turn_id)
            current = None
    assert current is None
