"""What the issue 15 security review found to hold, kept as regressions (the rest of its "held" list is
tested where it lives: test_safety_web, test_safety_input, test_tools_local, test_safety_redaction,
test_audit, test_restart, test_safety_approval_e2e).

Against a real `python -m web` process and the local stand-in model API proposing a write action.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from fake_openai import FakeOpenAI, model_env

from tools.runner import run_tool
from tools.targets.base import TargetConfig
from tools.targets.local import LocalTarget

SCRIPT = [
    {"text": "Restarting nginx.", "calls": [("restart_service", {"service": "nginx"})]},
    {"text": "Done."},
]
SANDBOX = {"target": "sandbox:nginx-port-conflict"}


def _pending(c: httpx.Client, sid: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = [a for a in c.get(f"/api/sessions/{sid}/approvals").json() if a["status"] == "pending"]
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError("no pending approval")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_approvals_cannot_cross_sessions_and_racing_decisions_count_once(start_server, server_env):
    with FakeOpenAI(script=SCRIPT, delay_s=0.0) as fake:
        server = start_server({**server_env, **model_env(fake)})
        with httpx.Client(base_url=server.url, timeout=30) as c:
            a, b = (c.post("/api/sessions", json=SANDBOX).json()["id"] for _ in range(2))
            for sid in (a, b):
                c.post(f"/api/sessions/{sid}/messages", json={"content": "restart nginx"})
            pa, pb = _pending(c, a), _pending(c, b)
            crossed = c.post(f"/api/sessions/{b}/approvals/{pa['approval_id']}", json={"decision": "approve"})
            assert crossed.status_code == 404  # session b cannot decide session a's request
            codes: list[int] = []

            def decide() -> None:
                with httpx.Client(base_url=server.url, timeout=30) as own:
                    codes.append(
                        own.post(
                            f"/api/sessions/{a}/approvals/{pa['approval_id']}", json={"decision": "approve"}
                        ).status_code
                    )

            racers = [threading.Thread(target=decide) for _ in range(12)]
            for t in racers:
                t.start()
            for t in racers:
                t.join(30)
            assert sorted(codes) == [200] + [409] * 11
            assert c.get(f"/api/sessions/{b}/approvals").json()[0]["status"] == "pending"  # untouched
            c.post(f"/api/sessions/{b}/approvals/{pb['approval_id']}", json={"decision": "deny"})


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost./",
        "http://127.0.0.1.nip.io/",
    ],
)
async def test_ssrf_through_address_encodings_is_refused_before_connecting(url):
    target = LocalTarget("local", TargetConfig(http_allow=["example.com"]))
    result = await run_tool(target, "http_check", {"url": url})
    assert not result.ok and "allow-list" in result.error and not result.output, (url, result.error)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_thousand_idle_streams_do_not_stop_the_server(start_server, server_env):
    server = start_server(server_env)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        sid = c.post("/api/sessions", json=SANDBOX).json()["id"]
        request = (
            f"GET /api/sessions/{sid}/events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        streams = []
        try:
            for _ in range(1000):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                s.sendall(request)
                streams.append(s)
            assert c.get("/healthz").status_code == 200
            assert (
                c.post(f"/api/sessions/{sid}/messages", json={"content": "nginx returns 503"}).status_code
                == 202
            )
            deadline = time.monotonic() + 60
            while c.get(f"/api/sessions/{sid}").json()["status"] != "idle":
                assert time.monotonic() < deadline, "a turn could not finish with 1,000 streams open"
                time.sleep(0.2)
            streams[0].settimeout(30)
            assert b"200 OK" in streams[0].recv(4096)  # and the streams themselves are being served
        finally:
            for s in streams:
                s.close()
