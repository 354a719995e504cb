"""The JSON API through httpx (ASGI transport) on a real SQLite file and a real PostgreSQL database.

Turns run for real (agent loop, sandbox target) against a stand-in OpenAI-compatible server on
127.0.0.1 (tests/fake_openai.py) paced so a turn is still running when the test needs it to be.
"""

from __future__ import annotations

import asyncio
import getpass
import time

import httpx
import pytest
from fake_openai import FakeOpenAI

from assistant.config import Settings
from web.app import create_app

SANDBOX = "sandbox:nginx-port-conflict"


@pytest.fixture
def fake():
    with FakeOpenAI(delay_s=0.005) as f:
        yield f


def make_settings(tmp_path, db_url: str, fake: FakeOpenAI, **kw) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        model="openai/fake-sre",
        api_base=fake.api_base,
        model_retries=0,
        model_options={"api_key": "sk-fake"},
        **kw,
    )


@pytest.fixture
async def client(tmp_path, db_url, fake):
    app = create_app(make_settings(tmp_path, db_url, fake, max_message_chars=500, max_body_bytes=4000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        c.app = app
        yield c
    await app.state.runtime.shutdown()


async def wait_idle(client: httpx.AsyncClient, sid: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(f"/api/sessions/{sid}")).json()
        if body["status"] == "idle":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"session {sid} still running after {timeout}s")


def fields(resp: httpx.Response) -> set[str]:
    return {p["field"] for p in resp.json()["detail"]}


async def test_session_crud(client):
    r = await client.post("/api/sessions", json={"target": SANDBOX, "title": "web-prod-01 503"})
    assert r.status_code == 201, r.text
    s = r.json()
    assert (s["target"], s["model"], s["title"], s["status"], s["last_seq"]) == (
        SANDBOX,
        "openai/fake-sre",
        "web-prod-01 503",
        "idle",
        0,
    )
    default = (await client.post("/api/sessions", json={})).json()
    assert default["target"] == "sandbox:nginx-port-conflict" and default["model"] == "openai/fake-sre"
    listed = (await client.get("/api/sessions")).json()
    assert {x["id"] for x in listed} == {s["id"], default["id"]}
    assert (await client.get(f"/api/sessions/{s['id']}")).json()["title"] == "web-prod-01 503"
    r = await client.patch(f"/api/sessions/{s['id']}", json={"title": "nginx down"})
    assert r.status_code == 200 and r.json()["title"] == "nginx down"
    assert (await client.delete(f"/api/sessions/{s['id']}")).status_code == 204
    assert (await client.get(f"/api/sessions/{s['id']}")).status_code == 404
    assert [x["id"] for x in (await client.get("/api/sessions")).json()] == [default["id"]]


async def test_bad_input_is_422_naming_the_field(client):
    r = await client.post("/api/sessions", json={"target": "sandbox:no-such-scenario"})
    assert r.status_code == 422 and fields(r) == {"target"}
    assert "no-such-scenario" in r.json()["detail"][0]["message"]
    r = await client.post("/api/sessions", json={"target": "local; rm -rf /"})
    assert r.status_code == 422 and fields(r) == {"target"}
    r = await client.post("/api/sessions", json={"model": "x" * 300})
    assert r.status_code == 422 and fields(r) == {"model"}
    r = await client.post("/api/sessions", json={"colour": "red"})
    assert r.status_code == 422 and fields(r) == {"colour"}
    r = await client.post(
        "/api/sessions", content=b'{"target": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and fields(r) == {"body"}
    r = await client.post("/api/sessions", json=["not", "an", "object"])
    assert r.status_code == 422
    sid = (await client.post("/api/sessions", json={})).json()["id"]
    r = await client.patch(f"/api/sessions/{sid}", json={"title": ""})
    assert r.status_code == 422 and fields(r) == {"title"}
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": ""})
    assert r.status_code == 422 and fields(r) == {"content"}
    r = await client.post(f"/api/sessions/{sid}/messages", json={"text": "hi"})
    assert r.status_code == 422 and fields(r) >= {"content", "text"}
    r = await client.get(f"/api/sessions/{sid}/events", params={"after": -1})
    assert r.status_code == 422 and fields(r) == {"query.after"}
    r = await client.get(f"/api/sessions/{sid}/events", headers={"Last-Event-ID": "abc"})
    assert r.status_code == 422 and fields(r) == {"header.Last-Event-ID"}


async def test_unknown_ids_are_404(client):
    for method, path in [
        ("GET", "/api/sessions/s_nope"),
        ("PATCH", "/api/sessions/s_nope"),
        ("DELETE", "/api/sessions/s_nope"),
        ("POST", "/api/sessions/s_nope/messages"),
        ("GET", "/api/sessions/s_nope/events"),
        ("GET", "/api/sessions/s_nope/tool_calls"),
        ("GET", "/api/sessions/s_nope/findings"),
        ("GET", "/api/sessions/s_nope/approvals"),
        ("POST", "/api/sessions/s_nope/turns/t_nope/cancel"),
    ]:
        body = {"title": "x"} if method == "PATCH" else {"content": "x"} if method == "POST" else None
        r = await client.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"] == "not_found"
    sid = (await client.post("/api/sessions", json={})).json()["id"]
    r = await client.post(f"/api/sessions/{sid}/turns/t_nope/cancel")
    assert r.status_code == 404
    r = await client.post(f"/api/sessions/{sid}/approvals/a_nope", json={"decision": "approve"})
    assert r.status_code == 404


async def test_size_limits_are_413(client):
    sid = (await client.post("/api/sessions", json={})).json()["id"]
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": "x" * 501})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": "y" * 5000})
    assert r.status_code == 413
    assert (await client.get(f"/api/sessions/{sid}")).json()["last_seq"] == 0  # nothing started


async def test_message_starts_a_turn_409_while_running_then_trail_and_findings(client, fake):
    fake.delay_s = 0.01  # slow enough that the turn is surely still running for the 409 checks
    sid = (await client.post("/api/sessions", json={"target": SANDBOX})).json()["id"]
    r = await client.post(
        f"/api/sessions/{sid}/messages", json={"content": "nginx on web-prod-01 returns 503"}
    )
    assert r.status_code == 202, r.text
    turn_id = r.json()["turn_id"]
    running = (await client.get(f"/api/sessions/{sid}")).json()
    assert running["status"] == "running" and running["running_turn_id"] == turn_id
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": "and now?"})
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert (await client.delete(f"/api/sessions/{sid}")).status_code == 409
    done = await wait_idle(client, sid)
    assert done["running_turn_id"] is None
    turns = (await client.get(f"/api/sessions/{sid}/turns")).json()
    assert [(t["id"], t["status"]) for t in turns] == [(turn_id, "completed")]
    calls = (await client.get(f"/api/sessions/{sid}/tool_calls")).json()
    assert [(c["tool"], c["command"]) for c in calls] == [
        ("service_status", "systemctl status nginx"),
        ("port_owner", "ss -ltnp 'sport = :80'"),
    ]
    assert (
        calls[0]["exit_code"] == 3
        and calls[0]["ok"] is False
        and "Address already in use" in calls[0]["output"]
    )
    assert all(c["duration_ms"] is not None and c["target"] == SANDBOX for c in calls)
    assert all(c["output_sha256"] and len(c["output_sha256"]) == 64 for c in calls)
    findings = (await client.get(f"/api/sessions/{sid}/findings")).json()
    assert "port-in-use" in {f["signature"] for f in findings}
    for f in findings:
        for ev in f["evidence"]:
            output = next(c["output"] for c in calls if c["call_id"] == ev["call_id"])
            assert all(line in output for line in ev["lines"])
    r = await client.post(f"/api/sessions/{sid}/messages", json={"content": "thanks, anything else?"})
    assert r.status_code == 202  # idle again: a new turn is accepted
    await wait_idle(client, sid)


async def test_cancel_stops_a_running_turn(client, fake):
    fake.delay_s = 0.2
    sid = (await client.post("/api/sessions", json={})).json()["id"]
    turn_id = (await client.post(f"/api/sessions/{sid}/messages", json={"content": "check nginx"})).json()[
        "turn_id"
    ]
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    r = await client.post(f"/api/sessions/{sid}/turns/{turn_id}/cancel")
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    await wait_idle(client, sid, timeout=5)
    assert time.monotonic() - t0 < 2.0
    turns = (await client.get(f"/api/sessions/{sid}/turns")).json()
    assert turns[0]["status"] == "cancelled"
    r = await client.post(f"/api/sessions/{sid}/turns/{turn_id}/cancel")
    assert r.status_code == 409


async def test_cancel_from_another_process_stops_a_running_turn(client, fake, db_url):
    """Another replica or the CLI only sets the DB flag; this server's single cancel watcher must see it."""
    from assistant import store

    fake.delay_s = 0.2
    sid = (await client.post("/api/sessions", json={})).json()["id"]
    turn_id = (await client.post(f"/api/sessions/{sid}/messages", json={"content": "check nginx"})).json()[
        "turn_id"
    ]
    await asyncio.sleep(0.5)
    other = store.open_store(db_url)  # its own engine and connections, as another process would have
    try:
        with store.writing(other) as db:
            store.request_cancel(db, session_id=sid, turn_id=turn_id)
    finally:
        other.dispose()
    await wait_idle(client, sid, timeout=5)
    turns = (await client.get(f"/api/sessions/{sid}/turns")).json()
    assert turns[0]["status"] == "cancelled"


async def started_and_finished(c: httpx.AsyncClient, app, sids: list[str]) -> list[tuple[str, str]]:
    from assistant import store

    for sid in sids:
        await wait_idle(c, sid)
    engine = await app.state.runtime.aengine()
    with store.reading(engine) as db:
        logs = [store.list_events(db, session_id=sid) for sid in sids]
    return [(next(e.at for e in evs if e.type.value == "turn_started"), evs[-1].at) for evs in logs]


@pytest.mark.parametrize("model", ["firstline/runbook", "openai/fake-sre"])
async def test_each_kind_of_model_has_its_own_limit_of_running_turns(tmp_path, db_url, fake, model):
    """Offline turns think on the server's CPU, hosted ones mostly wait on the provider: with room for one
    offline turn, two hosted turns still run at once, and the other way round."""
    settings = make_settings(tmp_path, db_url, fake, max_running_turns=1, max_running_hosted_turns=1)
    settings = settings.model_copy(update={"model": model})
    fake.delay_s = 0.05
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        offline = (
            await c.post("/api/sessions", json={"target": SANDBOX, "model": "firstline/runbook"})
        ).json()["id"]
        hosted = (await c.post("/api/sessions", json={"target": SANDBOX, "model": "openai/fake-sre"})).json()[
            "id"
        ]
        others = [offline, hosted]
        assert [(await c.get(f"/api/sessions/{sid}")).json()["model"] for sid in others] == [
            "firstline/runbook",
            "openai/fake-sre",
        ]
        same = (await c.post("/api/sessions", json={"target": SANDBOX, "model": model})).json()["id"]
        for sid in [same, *others]:
            assert (
                await c.post(f"/api/sessions/{sid}/messages", json={"content": "nginx returns 503"})
            ).status_code == 202
        (same_start, same_end), *times = await started_and_finished(c, app, [same, *others])
    await app.state.runtime.shutdown()
    twin_start, twin_end = times[others.index(hosted if model == "openai/fake-sre" else offline)]
    other_start, _ = times[others.index(offline if model == "openai/fake-sre" else hosted)]
    assert twin_start >= same_end or same_start >= twin_end  # one slot for its kind: never two at once
    assert other_start < max(same_end, twin_end)  # the other kind did not wait for them


async def test_turns_beyond_the_limit_wait_for_a_free_slot(tmp_path, db_url, fake):
    """max_running_hosted_turns=1: the second message is stored and shown at once, its turn starts when the
    first ends."""
    from assistant import store

    app = create_app(make_settings(tmp_path, db_url, fake, max_running_hosted_turns=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        sids = [(await c.post("/api/sessions", json={"target": SANDBOX})).json()["id"] for _ in range(2)]
        for sid in sids:
            assert (
                await c.post(f"/api/sessions/{sid}/messages", json={"content": "check nginx"})
            ).status_code == 202
        for sid in sids:
            await wait_idle(c, sid)
        engine = await app.state.runtime.aengine()
        with store.reading(engine) as db:
            logs = [store.list_events(db, session_id=sid) for sid in sids]
    await app.state.runtime.shutdown()
    first, second = sorted(logs, key=lambda evs: next(e.at for e in evs if e.type.value == "turn_started"))
    assert all(evs[-1].type.value == "turn_finished" and evs[-1].data.status == "completed" for evs in logs)
    second_started = next(e.at for e in second if e.type.value == "turn_started")
    assert second_started >= first[-1].at  # never two at once
    assert (
        second[0].type.value == "user_message" and second[0].at < first[-1].at
    )  # stored before its turn ran


async def test_the_model_reads_each_question_once(client, fake):
    """The server stores the question before its turn runs; the prompt must still carry it once, not twice."""
    sid = (await client.post("/api/sessions", json={"target": SANDBOX})).json()["id"]
    for question in ("nginx on web-prod-01 returns 503", "and since when?"):
        fake.requests.clear()
        await client.post(f"/api/sessions/{sid}/messages", json={"content": question})
        await wait_idle(client, sid)
        users = [m["content"] for m in fake.requests[0]["messages"] if m["role"] == "user"]
        assert users.count(question) == 1 and users[-1] == question, users
    assert users == ["nginx on web-prod-01 returns 503", "and since when?"]


async def test_shutdown_closes_a_turn_still_waiting_for_a_slot(tmp_path, db_url, fake):
    """A queued turn stopped by shutdown is recorded interrupted at once, not left `running` for recovery."""
    from assistant import store

    fake.script = [
        {"text": "The orphan holds :80; I will stop it.", "calls": [("kill_process", {"pid": 2314})]}
    ]
    app = create_app(make_settings(tmp_path, db_url, fake, max_running_hosted_turns=1))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        first, queued = [
            (await c.post("/api/sessions", json={"target": SANDBOX})).json()["id"] for _ in range(2)
        ]
        await c.post(f"/api/sessions/{first}/messages", json={"content": "kill the orphan on port 80"})
        for _ in range(200):  # the first turn holds the only slot, waiting for a person
            if (await c.get(f"/api/sessions/{first}/approvals")).json():
                break
            await asyncio.sleep(0.05)
        assert (
            await c.post(f"/api/sessions/{queued}/messages", json={"content": "check nginx"})
        ).status_code == 202
        engine = await app.state.runtime.aengine()
        await app.state.runtime.shutdown()
    with store.reading(engine) as db:
        log = store.list_events(db, session_id=queued)
        session = store.get_session(db, session_id=queued)
    assert [e.type.value for e in log] == ["user_message", "error", "turn_finished"]
    assert log[-1].data.status == "interrupted" and "before this turn could start" in log[1].data.message
    assert session.status == "idle"


async def test_write_action_waits_for_approval_through_the_api(client, fake):
    fake.script = [
        {"text": "The orphan holds :80; I will stop it.", "calls": [("kill_process", {"pid": 2314})]},
        {"text": "Done: the orphan was stopped."},
    ]
    sid = (await client.post("/api/sessions", json={"target": SANDBOX})).json()["id"]
    await client.post(
        f"/api/sessions/{sid}/messages", json={"content": "go ahead and kill the orphan on port 80"}
    )
    pending = []
    for _ in range(200):
        pending = [
            a for a in (await client.get(f"/api/sessions/{sid}/approvals")).json() if a["status"] == "pending"
        ]
        if pending:
            break
        await asyncio.sleep(0.05)
    (approval,) = pending
    assert approval["tool"] == "kill_process" and approval["args"] == {"pid": 2314}
    await asyncio.sleep(0.5)
    assert (await client.get(f"/api/sessions/{sid}")).json()["status"] == "running"  # still waiting
    r = await client.post(
        f"/api/sessions/{sid}/approvals/{approval['approval_id']}",
        json={"decision": "approve", "by": "alice", "comment": "orphan from the old deploy"},
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert (
        r.json()["decided_by"] == f"local:{getpass.getuser()}"
    )  # the authenticated (local) user, not the body's
    r = await client.post(
        f"/api/sessions/{sid}/approvals/{approval['approval_id']}", json={"decision": "deny"}
    )
    assert r.status_code == 409
    await wait_idle(client, sid)
    calls = (await client.get(f"/api/sessions/{sid}/tool_calls")).json()
    assert [(c["tool"], c["ok"]) for c in calls] == [("kill_process", True)]
    r = await client.post(
        f"/api/sessions/{sid}/approvals/{approval['approval_id']}", json={"decision": "maybe"}
    )
    assert r.status_code == 422 and fields(r) == {"decision"}


async def test_targets_models_health_and_openapi(client):
    targets = (await client.get("/api/targets")).json()
    assert {"name": SANDBOX, "kind": "sandbox"}.items() <= next(
        t for t in targets if t["name"] == SANDBOX
    ).items()
    models = (await client.get("/api/models")).json()
    assert (
        models["default"] == "openai/fake-sre"
        and models["models"][0] == "openai/fake-sre"
        and models["hints"]
    )
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True
    schema = (await client.get("/openapi.json")).json()
    assert {
        "/api/sessions",
        "/api/sessions/{session_id}/events",
        "/api/sessions/{session_id}/messages",
        "/api/sessions/{session_id}/approvals/{approval_id}",
    } <= set(schema["paths"])
    assert "413" in schema["paths"]["/api/sessions/{session_id}/messages"]["post"]["responses"]


async def test_unreachable_database_is_503(tmp_path, fake):
    app = create_app(make_settings(tmp_path, "postgresql://postgres@127.0.0.1:1/firstline", fake))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as c:
        for method, path in [
            ("GET", "/api/sessions"),
            ("POST", "/api/sessions"),
            ("GET", "/api/sessions/s_x"),
            ("GET", "/healthz"),
        ]:
            r = await c.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 503, (path, r.text)
        assert (await c.get("/api/targets")).status_code == 200  # no database needed
