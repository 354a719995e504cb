"""Hostile input against the real app (real SQLite file): sizes, malformed JSON, wrong types, unknown ids,
odd bytes. Every answer is a 4xx with a JSON body that says what is wrong; nothing reaches a 500, and
the server is still healthy afterwards.
"""

from __future__ import annotations

import httpx
import pytest

from assistant.config import Settings
from web.app import create_app

SANDBOX = "sandbox:nginx-port-conflict"


@pytest.fixture
async def client(tmp_path):
    s = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'in.db'}",
        max_body_bytes=8000,
        max_message_chars=1000,
    )
    app = create_app(s)
    await app.state.runtime.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        yield c
    await app.state.runtime.shutdown()


async def _sid(c: httpx.AsyncClient) -> str:
    r = await c.post("/api/sessions", json={"target": SANDBOX})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _fields(r: httpx.Response) -> set[str]:
    return {p["field"] for p in r.json()["detail"]}


async def test_sizes_are_413_with_a_clear_message(client):
    sid = await _sid(client)
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": "x" * 1001})
    assert r.status_code == 413 and r.json() == {
        "error": "too_large",
        "detail": "message is 1001 characters; the limit is 1000",
    }
    r = await client.post(
        f"/api/sessions/{sid}/messages",
        content=b'{"content": "' + b"y" * 9000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and "8000-byte limit" in r.json()["detail"]

    async def chunks():  # no Content-Length: the limit still holds while streaming in
        for _ in range(20):
            yield b"z" * 1000

    r = await client.post("/api/sessions", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "body, field",
    [
        (b"{not json", "body"),
        (b'{"content": 42}', "content"),
        (b'{"content": ""}', "content"),
        (b'{"content": "hi", "admin": true}', "admin"),
        (b"[]", "body"),
        (b'"just a string"', "body"),
        (b'{"content": null}', "content"),
        (b"", "body"),
    ],
)
async def test_malformed_messages_are_422_naming_the_field(client, body, field):
    sid = await _sid(client)
    r = await client.post(
        f"/api/sessions/{sid}/messages", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert field in _fields(r), r.json()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"target": "local; rm -rf /"}, "target"),
        ({"target": "sandbox:../../etc/passwd"}, "target"),
        ({"model": "m\nX-Injected: 1"}, "model"),
        ({"title": "t" * 500}, "title"),
        ({"target": 7}, "target"),
    ],
)
async def test_bad_session_fields_are_422_naming_the_field(client, body, field):
    r = await client.post("/api/sessions", json=body)
    assert r.status_code == 422 and field in _fields(r), r.text


async def test_unknown_ids_are_404(client):
    sid = await _sid(client)
    for method, path, body in [
        ("GET", "/api/sessions/s_0000000000000000", None),
        ("POST", "/api/sessions/s_0000000000000000/messages", {"content": "hi"}),
        ("GET", "/api/sessions/s_0000000000000000/events", None),
        ("GET", f"/api/sessions/{sid}/approvals", None),
        ("POST", f"/api/sessions/{sid}/approvals/a_nope", {"decision": "approve"}),
        ("POST", f"/api/sessions/{sid}/turns/t_nope/cancel", None),
        ("DELETE", "/api/sessions/s_0000000000000000", None),
        ("GET", "/api/sessions/%00%ff..", None),
    ]:
        r = await client.request(method, path, json=body)
        expected = 200 if path.endswith("/approvals") else 404
        assert r.status_code == expected, (method, path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")


async def test_odd_text_is_stored_as_text_and_the_server_stays_up(client):
    sid = await _sid(client)
    r = await client.post(
        f"/api/sessions/{sid}/messages",
        content=b'{"content": "\xff\xfe bad utf-8"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and _fields(r) == {"body"}
    odd = "nginx 503 \u202e\u0000 😀 <script>alert(1)</script> ' OR 1=1 --"
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": odd})
    assert r.status_code == 202, r.text
    r = await client.post(f"/api/sessions/{sid}/approvals/a_x", json={"decision": "maybe"})
    assert r.status_code == 404 or (r.status_code == 422 and "decision" in _fields(r))
    r = await client.get("/api/sessions", params={"limit": "-1"})
    assert r.status_code == 422 and "query.limit" in _fields(r)
    r = await client.get(f"/api/sessions/{sid}/events", headers={"Last-Event-ID": "1; DROP TABLE events"})
    assert r.status_code == 422 and "header.Last-Event-ID" in _fields(r)
    assert (await client.get("/healthz")).json()["ok"] is True
