"""Faults: a failing model, a hanging tool, a database that goes away, a cluster that vanishes mid-turn.

All real: a misbehaving OpenAI-compatible server on 127.0.0.1 (500, 429, garbage, never
answering), a real `sleep` child process, a TCP forwarder in front of the real PostgreSQL
that the test cuts and restores, the recorded Kubernetes API server stopped between steps.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no downloads

import asyncio
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import psutil
import pytest
from conftest import PG_ADMIN_URL, ServerProcess, pg_reachable
from fake_openai import FakeOpenAI, model_env
from k8s_api import KubeApiServer, write_kubeconfig
from scripted_model import ScriptedModel, calls
from tcp_proxy import TcpProxy

from assistant import store
from assistant.config import Settings
from assistant.context import TurnContext
from assistant.events import EventType
from assistant.turns import drive_turn
from tools.base import RawOutput
from tools.host.proc import run_argv
from tools.runner import run_tool
from tools.targets.base import Target, TargetConfig

pytestmark = pytest.mark.slow  # server processes, a hanging tool killed at its timeout (10 s)

SANDBOX = "sandbox:nginx-port-conflict"


class BadModel:
    """An OpenAI-compatible endpoint whose behaviour the test switches: ok, 500, 429, garbage, hang."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bad = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if bad.mode == "hang":
                    time.sleep(20)
                    return
                if bad.mode in ("500", "429"):
                    err = {
                        "error": {"message": f"upstream {bad.mode}", "type": "server_error", "code": bad.mode}
                    }
                    self._send(int(bad.mode), json.dumps(err).encode())
                elif bad.mode == "garbage":
                    if req.get("stream"):
                        self._send(200, b"data: {this is not json\n\ndata: <html>\n\n", "text/event-stream")
                    else:
                        self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                else:
                    chunk = {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "m",
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": "All good now."},
                                "finish_reason": None,
                            }
                        ],
                    }
                    end = {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "m",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    }
                    body = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(end)}\n\ndata: [DONE]\n\n"
                    self._send(200, body.encode(), "text/event-stream")

        return Handler


@pytest.fixture(scope="module")
def bad_model():
    model = BadModel()
    yield model
    model.close()


async def _never(_request):
    raise AssertionError("no approval expected")


@pytest.mark.parametrize(
    "mode, kind", [("500", "outage"), ("429", "rate_limit"), ("garbage", "outage"), ("hang", "timeout")]
)
async def test_model_failure_ends_the_turn_clearly_and_the_session_stays_usable(
    tmp_path, bad_model, mode, kind
):
    s = Settings(
        home=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'f.db'}",
        model="openai/flaky",
        api_base=bad_model.api_base,
        model_options={"api_key": "sk-x", "max_retries": 0},
        model_retries=0,
        model_timeout_s=1.5,
    )
    engine = store.open_store(s.db_url)
    with store.writing(engine) as db:
        sid = store.create_session(db, target=SANDBOX, model=s.model).id
    statuses = []
    for next_mode in (mode, "ok"):
        bad_model.mode = next_mode
        with store.writing(engine) as db:
            turn = store.begin_turn(db, session_id=sid, owner=store.current_owner())
        t0 = time.monotonic()
        statuses.append(await drive_turn(s, engine, sid, turn.id, "nginx returns 503", _never))
        assert time.monotonic() - t0 < 15
    with store.reading(engine) as db:
        events = store.list_events(db, session_id=sid)
        session = store.get_session(db, session_id=sid)
    errors = [e.data for e in events if e.type is EventType.ERROR]
    assert statuses == ["error", "completed"]
    assert [e.kind for e in errors] == [kind] and errors[0].hint  # says what happened and what to do
    assert [e.data.text for e in events if e.type is EventType.MESSAGE] == ["All good now."]
    assert session.status == "idle"
    engine.dispose()


class HangingTarget(Target):
    """Runs a real `sleep 300` (its own process group) and waits for it: a tool that hangs."""

    kind = "host"

    def __init__(self) -> None:
        super().__init__("hangs")
        self.child_pids: list[int] = []

    def supports(self, tool_name: str) -> bool:
        return True

    async def run(self, tool, args) -> RawOutput:
        me = psutil.Process()

        async def watch() -> None:
            while not self.child_pids:
                self.child_pids = [c.pid for c in me.children() if "sleep" in " ".join(c.cmdline())]
                await asyncio.sleep(0.05)

        watcher = asyncio.ensure_future(watch())
        try:
            out = await run_argv(["sleep", "300"], timeout=3600)
        finally:
            watcher.cancel()
        return RawOutput(exit_code=out.returncode, output=out.output)


async def test_hanging_tool_is_stopped_at_its_timeout_and_its_process_killed():
    target = HangingTarget()
    t0 = time.monotonic()
    result = await run_tool(target, "http_check", {"url": "http://127.0.0.1:9/"})  # http_check: 10 s budget
    took = time.monotonic() - t0
    assert result.ok is False and "timed out after 10s and was stopped" in result.error
    assert 9.5 < took < 13
    assert target.child_pids, "the child never started"
    await asyncio.sleep(0.2)
    for pid in target.child_pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _calls(*pairs: tuple[str, dict]):
    return calls(*pairs)


async def test_cluster_vanishing_mid_turn_is_an_error_result_not_a_crash(tmp_path):
    from assistant.loop import run_turn
    from tools.targets import open_target

    api = KubeApiServer().__enter__()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    target = open_target("kubernetes:fixture", TargetConfig(kubeconfig=kubeconfig))
    script = [
        _calls(("list_pods", {"namespace": "shop"})),
        _calls(("pod_describe", {"pod": "api-5c9f7d8b6-8xk2m", "namespace": "shop"})),
        "The API server stopped answering; I could only list the pods.",
    ]
    ctx = TurnContext(
        settings=Settings(home=tmp_path, model_retries=0),
        llm=ScriptedModel(script),
        target=target,
        model="openai/gpt-4o-mini",
        session_id="s1",
        turn_id="t1",
    )
    events = []
    try:
        async for ev in run_turn(ctx, [], "pods in shop keep restarting"):
            events.append(ev)
            if ev.type is EventType.TOOL_RESULT and ev.data.tool == "list_pods":
                api.__exit__(None, None, None)  # the cluster goes away between the two steps
                api = None
    finally:
        if api is not None:
            api.__exit__(None, None, None)
        await target.aclose()
    results = [e.data for e in events if e.type is EventType.TOOL_RESULT]
    assert [(r.tool, r.ok) for r in results] == [("list_pods", True), ("pod_describe", False)]
    said = f"{results[1].error or ''} {results[1].output}".lower()
    assert "refused" in said or "unable to connect" in said, said
    assert [e.data.status for e in events if e.type is EventType.TURN_FINISHED] == ["completed"]


# ------------------------------------------------------------------ the database goes away


def test_unopenable_sqlite_database_is_503_not_500(tmp_path):
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(
        create_app(Settings(home=tmp_path, database_url="sqlite:////proc/firstline/x.db")),
        base_url="http://localhost",
    ) as c:
        assert c.get("/healthz").status_code == 503
        r = c.post("/api/sessions", json={})
        assert r.status_code == 503 and r.json()["error"] == "db_unavailable"


@pytest.fixture
def pg_db():
    if not pg_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"firstline_fault_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.postgres
def test_database_outage_is_503_and_loses_no_accepted_message(pg_db, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    with TcpProxy("127.0.0.1", 5432) as proxy, FakeOpenAI(delay_s=0.15) as fake:
        env.update(
            FIRSTLINE_HOME=str(tmp_path / "home"),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            FIRSTLINE_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{proxy.port}/{pg_db}",
            NO_PROXY="127.0.0.1,localhost",
            **model_env(fake),
        )
        server = ServerProcess(env, tmp_path / "server.log").start()
        try:
            with httpx.Client(base_url=server.url, timeout=20) as c:
                sid = c.post("/api/sessions", json={"target": SANDBOX}).json()["id"]
                accepted = c.post(
                    f"/api/sessions/{sid}/messages", json={"content": "nginx down on web-prod-01"}
                )
                assert accepted.status_code == 202
                proxy.cut()  # right after the 202: the accepted message must already be stored
                for method, path, body in [
                    ("GET", "/healthz", None),
                    ("GET", "/api/sessions", None),
                    ("GET", f"/api/sessions/{sid}/tool_calls", None),
                    ("POST", f"/api/sessions/{sid}/messages", {"content": "are you there?"}),
                ]:
                    r = c.request(method, path, json=body)
                    assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.json() == {
                    "error": "db_unavailable",
                    "detail": "the database is unreachable; try again shortly",
                }
                # Keep the database away until the turn has surely needed it: its model call is under way
                # (its events are written next) or it already failed. Under load the litellm import alone
                # can outlast a fixed outage, and a turn that never met the outage records no error.
                _wait(
                    lambda: (
                        fake.requests or "failed" in (tmp_path / "server.log").read_text(errors="replace")
                    ),
                    "the turn to reach its model call while the database is away",
                )
                time.sleep(1.0)
                proxy.restore()
                fake.delay_s = 0.0  # the retried turn need not be slow
                session = _wait(
                    lambda: (s := c.get(f"/api/sessions/{sid}").json())["status"] == "idle" and s,
                    "the interrupted turn to be closed",
                )
                texts = [m["data"]["text"] for m in _events(c, sid) if m["type"] == "user_message"]
                assert texts == ["nginx down on web-prod-01"]  # accepted: kept; refused with 503: not stored
                errors = [e["data"] for e in _events(c, sid) if e["type"] == "error"]
                assert [e["kind"] for e in errors] == ["db_unavailable"]
                assert session["running_turn_id"] is None
                again = c.post(f"/api/sessions/{sid}/messages", json={"content": "nginx down on web-prod-01"})
                assert again.status_code == 202  # the session is usable again
                _wait(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "idle", "the retried turn")
                assert any(e["type"] == "message" for e in _events(c, sid))
        finally:
            server.stop()


def _events(c: httpx.Client, sid: str) -> list[dict]:
    last = c.get(f"/api/sessions/{sid}").json()["last_seq"]
    out: list[dict] = []
    with c.stream("GET", f"/api/sessions/{sid}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                out.append(json.loads(line[5:]))
                if out[-1]["seq"] >= last:
                    break
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
