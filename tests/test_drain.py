"""SIGTERM to `firstline serve` with a turn running (a rolling update), on SQLite and PostgreSQL.

The server stops taking turns at once (a new message gets 503 with Retry-After), lets the running turn
finish within the grace period while its stream keeps flowing, then ends the stream cleanly (with a
`retry:` so the browser reconnects soon) and exits. A turn longer than the grace period is interrupted
with a reason that says so, and after a restart the session takes the next message.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from replica_pods import Pod
from slow_http import SlowHTTP, local_target_env
from test_sse import read_sse


@pytest.fixture
def serve(db_url: str, tmp_path: Path):
    started: list[Pod] = []

    def start(grace_s: float) -> Pod:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
        env.update(
            {
                "FIRSTLINE_HOME": str(tmp_path / "home"),
                "FIRSTLINE_DATABASE_URL": db_url,
                "FIRSTLINE_SHUTDOWN_GRACE_S": str(grace_s),
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost",
                **local_target_env(),
            }
        )
        pod = Pod(None, env, tmp_path)
        started.append(pod)
        return pod.start()

    yield start
    for pod in started:
        pod.stop()


def rest_of_stream(lines) -> tuple[list[dict], list[str]]:
    """Everything until the server ends the stream (an exception here means it did not end cleanly)."""
    raw = list(lines)
    return read_sse(iter(raw), lambda evs: False), raw


def test_sigterm_lets_the_running_turn_finish_and_ends_its_stream_cleanly(serve):
    with SlowHTTP(delay_s=3.0) as slow, httpx.Client(timeout=30) as http:
        server = serve(grace_s=30)
        sid, other = (
            http.post(f"{server.url}/api/sessions", json={"target": "local"}).json()["id"] for _ in "ab"
        )
        http.post(f"{server.url}/api/sessions/{sid}/messages", json={"content": slow.question})
        with http.stream("GET", f"{server.url}/api/sessions/{sid}/events") as resp:
            lines = resp.iter_lines()
            before = read_sse(
                lines, lambda evs: evs[-1]["event"] == "tool_call"
            )  # waiting on the slow dependency
            server.signal(signal.SIGTERM)
            refused = http.post(
                f"{server.url}/api/sessions/{other}/messages", json={"content": "anyone there?"}
            )
            after, raw = rest_of_stream(lines)
        assert refused.status_code == 503 and refused.json()["error"] == "draining"
        assert int(refused.headers["Retry-After"]) > 0
        assert after[-1]["event"] == "turn_finished" and after[-1]["data"]["data"]["status"] == "completed"
        assert "tool_result" in [e["event"] for e in after]
        assert [int(e["id"]) for e in before + after] == list(range(1, len(before) + len(after) + 1))
        assert "retry: 500" in raw[-4:]  # told to reconnect (elsewhere) soon
        assert server.proc is not None and server.proc.wait(30) is not None


def test_a_turn_longer_than_the_grace_period_is_interrupted_and_the_next_message_resumes(serve):
    with SlowHTTP(delay_s=7.0) as slow, httpx.Client(timeout=30) as http:
        server = serve(grace_s=1)
        sid = http.post(f"{server.url}/api/sessions", json={"target": "local"}).json()["id"]
        http.post(f"{server.url}/api/sessions/{sid}/messages", json={"content": slow.question})
        with http.stream("GET", f"{server.url}/api/sessions/{sid}/events") as resp:
            lines = resp.iter_lines()
            read_sse(lines, lambda evs: evs[-1]["event"] == "tool_call")
            server.signal(signal.SIGTERM)
            after, _ = rest_of_stream(lines)
        assert server.proc is not None and server.proc.wait(30) is not None
        assert [e["event"] for e in after][-2:] == ["error", "turn_finished"]
        assert "1 s grace period" in after[-2]["data"]["data"]["message"]
        assert after[-1]["data"]["data"]["status"] == "interrupted"
        slow.delay_s = 0.05
        again = serve(grace_s=30)
        assert http.get(f"{again.url}/api/sessions/{sid}").json()["status"] == "idle"
        r = http.post(f"{again.url}/api/sessions/{sid}/messages", json={"content": slow.question})
        assert r.status_code == 202
        with http.stream(
            "GET", f"{again.url}/api/sessions/{sid}/events", headers={"Last-Event-ID": after[-1]["id"]}
        ) as resp:
            second = read_sse(resp.iter_lines(), lambda evs: evs[-1]["event"] == "turn_finished", timeout=60)
        assert second[-1]["data"]["data"]["status"] == "completed"
