"""What an operator relies on, against a real `firstline serve` process: probes, /metrics, JSON logs.

The metrics of one real turn are checked against the turn's own events (tool results by tool and
outcome, model steps and tokens, the turn's wall time), so a counter that counts the wrong thing fails.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
from collections import Counter
from contextvars import copy_context
from pathlib import Path
from typing import Self

import httpx
import pytest
from conftest import PG_HOST, PG_PORT, ServerProcess
from prometheus_client.parser import text_string_to_metric_families
from tcp_proxy import TcpProxy
from test_sse import read_sse

from assistant import logs
from assistant.store.migrations import MIGRATIONS

SANDBOX = "sandbox:nginx-port-conflict"
TOKEN = "ops-test-token-0123456789abcdef-32"  # serve needs 32+ characters
FIRSTLINE = str(Path(sys.executable).parent / "firstline")


class FirstlineServe(ServerProcess):
    """`firstline serve` (the real CLI) on a loopback port; stderr (its logs) kept in a file."""

    name = "firstline serve"
    health_path = "/livez"
    log_stdout = False

    def argv(self) -> list[str]:
        return [FIRSTLINE, "serve", "--port", str(self.port)]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]


def serve_env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_HOME=str(tmp_path / "home"),
        FIRSTLINE_DATABASE_URL=db_url,
        FIRSTLINE_AUTH_TOKEN=TOKEN,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


def scrape(client: httpx.Client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def run_turn(
    client: httpx.Client, text: str = "nginx on web-prod-01 returns 503"
) -> tuple[str, httpx.Response, list, dict]:
    """One sandbox turn, watched on its SSE stream opened before the question is sent; with a scrape taken
    while that stream was still open."""
    sid = client.post("/api/sessions", json={"target": SANDBOX}).json()["id"]
    with client.stream("GET", f"/api/sessions/{sid}/events") as stream:
        time.sleep(0.3)  # the stream is open on the server before any event of the turn is committed
        posted = client.post(f"/api/sessions/{sid}/messages", json={"content": text})
        assert posted.status_code == 202, posted.text
        lines = stream.iter_lines()  # kept: a dropped line iterator closes the stream (httpx)
        events = read_sse(lines, lambda evs: evs[-1]["event"] == "turn_finished", timeout=60)
        during = scrape(client)
    return sid, posted, [e["data"] for e in events], during


@pytest.mark.slow
def test_probes_metrics_and_json_logs_over_one_real_turn(tmp_path, db_url):
    with (
        FirstlineServe(
            serve_env(tmp_path, db_url, FIRSTLINE_LOG_FORMAT="json"), tmp_path / "serve.log"
        ) as srv,
        httpx.Client(base_url=srv.url, timeout=30) as anon,
        httpx.Client(base_url=srv.url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        assert anon.get("/livez").json() == {"ok": True}
        ready = anon.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert ready.json()["schema_version"] == len(MIGRATIONS) and ready.json()["draining"] is False
        assert anon.get("/metrics").status_code == 401  # the token guards the metrics like the API

        sid, posted, events, during = run_turn(client)
        finished = events[-1]["data"]
        assert finished["status"] == "completed" and finished["tool_calls"] > 0

        after = scrape(client)
        assert total(during, "firstline_sse_clients") == 1
        assert total(after, "firstline_turns_total", status="completed") == 1
        assert total(after, "firstline_turn_duration_seconds_count") == 1
        assert total(after, "firstline_turn_duration_seconds_sum") == pytest.approx(
            finished["wall_ms"] / 1000
        )
        results = [e["data"] for e in events if e["type"] == "tool_result"]
        by_outcome = Counter((r["tool"], "cached" if r["cached"] else r["status"]) for r in results)
        counted = {
            (dict(ls)["tool"], dict(ls)["outcome"]): v
            for (n, ls), v in after.items()
            if n == "firstline_tool_calls_total"
        }
        assert counted == by_outcome
        assert total(after, "firstline_tool_duration_seconds_count") == sum(
            not r["cached"] and r["status"] != "refused" for r in results
        )
        model = "firstline/runbook"
        assert total(after, "firstline_model_calls_total", model=model, outcome="ok") == finished["steps"]
        assert total(after, "firstline_model_call_duration_seconds_count", model=model) == finished["steps"]
        assert (
            total(after, "firstline_model_tokens_total", model=model, kind="prompt")
            == finished["prompt_tokens"]
        )
        assert (
            total(after, "firstline_model_tokens_total", model=model, kind="completion")
            == finished["completion_tokens"]
        )
        assert total(after, "firstline_event_delivery_lag_seconds_count") == len(events)
        assert total(after, "firstline_turns_running") == 0 and total(after, "firstline_turns_queued") == 0
        assert total(after, "firstline_approvals_pending") == 0
        assert ("firstline_db_pool_in_use", ()) in after
        deadline = time.monotonic() + 10  # the closed stream is noticed on its next write or ping
        while total(scrape(client), "firstline_sse_clients") != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert total(scrape(client), "firstline_sse_clients") == 0

        mine = client.get("/livez", headers={"X-Request-ID": "lb-7f3a.42"})
        assert mine.headers["x-request-id"] == "lb-7f3a.42"  # a proxy's id is kept end to end
        replaced = client.get("/livez", headers={"X-Request-ID": "two words"}).headers["x-request-id"]
        assert replaced != "two words" and len(replaced) == 32

    records = [json.loads(line) for line in srv.log_lines()]  # every line is one JSON object
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    post = [r for r in access if r["method"] == "POST" and r["path"] == f"/api/sessions/{sid}/messages"]
    assert len(post) == 1 and post[0]["status"] == 202
    assert post[0]["request_id"] == posted.headers["x-request-id"] and post[0]["session_id"] == sid
    assert any(r["path"] == "/livez" and r["request_id"] == "lb-7f3a.42" for r in access)
    assert any(r["logger"] == "uvicorn.error" and "Application startup complete" in r["msg"] for r in records)


@pytest.mark.postgres
def test_readyz_follows_the_database_but_livez_does_not(tmp_path, pg_database):
    """A database outage takes a replica out of the load balancer (503 /readyz) without getting it restarted."""
    name = pg_database.rsplit("/", 1)[1]
    with TcpProxy(PG_HOST, PG_PORT) as proxy:
        url = f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}"
        with (
            FirstlineServe(serve_env(tmp_path, url), tmp_path / "serve.log") as srv,
            httpx.Client(base_url=srv.url, timeout=30) as anon,
        ):
            assert anon.get("/readyz").status_code == 200
            proxy.cut()
            down = anon.get("/readyz")
            assert down.status_code == 503 and down.json()["ready"] is False
            assert down.json()["db"].startswith("unavailable (")
            assert anon.get("/livez").status_code == 200
            proxy.restore()
            deadline = time.monotonic() + 30
            while anon.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "never ready again after the database came back"
                time.sleep(0.2)
        warnings = [json.loads(line) for line in srv.log_lines() if '"not ready' in line]
        assert warnings and all(w["level"] == "warning" and w.get("request_id") for w in warnings)


@pytest.mark.slow
def test_draining_replica_is_not_ready(tmp_path):
    """`runtime.draining` (set when SIGTERM starts the drain) takes the replica out of rotation at once."""
    from fastapi.testclient import TestClient

    from assistant.config import Settings
    from web.app import create_app

    app = create_app(Settings(home=tmp_path))
    with TestClient(app, base_url="http://localhost") as c:
        assert c.get("/readyz").status_code == 200
        app.state.runtime.draining = True
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["draining"] is True
        assert c.get("/livez").status_code == 200
        assert (
            total(
                {
                    (s.name, tuple(s.labels.items())): s.value
                    for f in text_string_to_metric_families(c.get("/metrics").text)
                    for s in f.samples
                },
                "firstline_draining",
            )
            == 1
        )


def test_nodes_gauge_appears_once_the_nodes_feature_sets_it(tmp_path):
    """`firstline_nodes_connected` is absent (not a misleading 0) until remote nodes report a count."""
    from fastapi.testclient import TestClient

    from assistant import metrics
    from assistant.config import Settings
    from web.app import create_app

    with TestClient(create_app(Settings(home=tmp_path)), base_url="http://localhost") as c:

        def nodes() -> list[float]:
            return [
                s.value
                for f in text_string_to_metric_families(c.get("/metrics").text)
                for s in f.samples
                if s.name == "firstline_nodes_connected"
            ]

        if metrics.nodes_reported():
            pytest.skip("another test in this process already reported nodes")
        assert nodes() == []
        metrics.set_nodes_connected(3)
        assert nodes() == [3]


def test_json_log_line_holds_ids_and_the_whole_traceback():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextIds())
    logger = logging.getLogger("firstline.test_ops")
    logger.addHandler(handler)
    logger.propagate = False

    def fail_in_a_turn() -> None:
        logs.bind(request_id="r1", session_id="s_1", turn_id="t1")
        try:
            {}["missing"]
        except KeyError:
            logger.exception("turn %s failed", "t1", extra={"attempt": 2})

    try:
        copy_context().run(fail_in_a_turn)
        logger.warning("outside any request")
    finally:
        logger.removeHandler(handler)
    first, second = out.getvalue().splitlines()  # two records, two lines: the traceback stayed inside
    record = json.loads(first)
    assert record["msg"] == "turn t1 failed" and record["level"] == "error" and record["attempt"] == 2
    assert (record["request_id"], record["session_id"], record["turn_id"]) == ("r1", "s_1", "t1")
    assert record["exc"].startswith("Traceback") and "KeyError: 'missing'" in record["exc"]
    assert "request_id" not in json.loads(second)  # the ids belonged to that context only


def test_auto_log_format_is_text_at_a_terminal_and_json_elsewhere():
    main, other = os.openpty()
    try:
        with open(other, "w") as tty:
            assert logs.resolve("auto", tty) == "text"
    finally:
        os.close(main)
    assert logs.resolve("auto", io.StringIO()) == "json"
    assert logs.resolve("text", io.StringIO()) == "text"
    assert logs.log_config("text") is None  # uvicorn's own text logs
    assert logs.log_config("json", "warning")["root"] == {"handlers": ["json"], "level": "WARNING"}
