"""Slow clients (issue 15 item 9): connections that dribble their request headers are closed within the header
deadline while /healthz stays answered; an event stream past its headers is never cut by it; an idle keep-alive
connection is closed after the keep-alive timeout. Real sockets against a real server process."""

from __future__ import annotations

import selectors
import socket
import time

import httpx
import pytest

HEADER_TIMEOUT_S = 2.0
SLACK_S = 3.0
DRIBBLERS, SILENT = 200, 20
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _stream(port: int, sid: str) -> socket.socket:
    """An event stream whose request head was sent whole, read up to the end of its response head."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        f"GET /api/sessions/{sid}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        assert chunk, "the stream was closed before its response head"
        got += chunk
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    return s


def _still_open(s: socket.socket) -> bool:
    """No EOF and no reset: a recv that times out (or returns data) means the server kept it."""
    s.settimeout(0.3)
    try:
        return s.recv(65536) != b""
    except TimeoutError:
        return True
    except OSError:
        return False


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_slow_header_clients_are_closed_in_time_while_healthz_and_streams_go_on(start_server, server_env):
    env = {
        **server_env,
        "FIRSTLINE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "FIRSTLINE_HEARTBEAT_S": "120",  # the stream below stays silent for the whole test
    }
    server = start_server(env)
    http = httpx.Client(base_url=server.url, timeout=10)
    sid = http.post("/api/sessions", json={"target": "sandbox:nginx-port-conflict"}).json()["id"]
    stream = _stream(server.port, sid)

    sel = selectors.DefaultSelector()
    opened: dict[socket.socket, float] = {}
    for i in range(DRIBBLERS + SILENT):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        s.setblocking(False)
        if i < DRIBBLERS:
            s.send(HEAD)
        opened[s] = time.monotonic()
        sel.register(s, selectors.EVENT_READ)
    closed: dict[socket.socket, float] = {}
    answers: dict[socket.socket, bytes] = {}
    health_ms: list[float] = []
    deadline = time.monotonic() + HEADER_TIMEOUT_S + SLACK_S + 5
    next_drip = next_health = time.monotonic()
    while len(closed) < len(opened) and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_drip:  # one more header byte from every dribbler still open, twice a second
            for s in list(opened)[:DRIBBLERS]:
                if s not in closed:
                    try:
                        s.send(b"a")
                    except OSError:
                        closed[s] = time.monotonic()
                        sel.unregister(s)
            next_drip = now + 0.5
        if now >= next_health:
            t0 = time.perf_counter()
            assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
            health_ms.append((time.perf_counter() - t0) * 1000)
            next_health = now + 0.25
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                answers[s] = answers.get(s, b"") + data
                continue
            closed[s] = time.monotonic()
            sel.unregister(s)

    late = [closed.get(s, time.monotonic()) - t for s, t in opened.items()]
    assert len(closed) == len(opened), f"{len(opened) - len(closed)} slow connections are still open"
    assert max(late) < HEADER_TIMEOUT_S + SLACK_S, f"the slowest was closed after {max(late):.1f} s"
    assert min(late) >= HEADER_TIMEOUT_S - 0.2, "closed before the deadline"
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers.values()), "only a 408 is ever answered"
    assert len(health_ms) >= 3 and max(health_ms) < 1000, health_ms  # answered all along (how often: load)

    # the stream has been idle past its headers for longer than the header deadline: still open, and live
    assert _still_open(stream)
    assert http.post(f"/api/sessions/{sid}/messages", json={"content": "nginx is down"}).status_code == 202
    stream.settimeout(30)
    assert b"user_message" in stream.recv(65536)
    stream.close()
    for s in opened:
        s.close()
    http.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(start_server, server_env):
    server = start_server({**server_env, "FIRSTLINE_KEEPALIVE_TIMEOUT_S": "1"})
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    s.settimeout(10)
    got, last = b"", time.monotonic()
    while chunk := s.recv(4096):  # the response, then EOF once the server closes the idle connection
        got, last = got + chunk, time.monotonic()
    assert got.startswith(b"HTTP/1.1 200")
    assert 0.8 < time.monotonic() - last < 3.0
    s.close()
