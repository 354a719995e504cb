"""Issue 15 items 2 and 4: what a model chooses cannot freeze the server, and its secrets are not stored.

A real `python -m web` process, the local stand-in for a paid model API, real log files.
- Item 2: the review's `log_tail {"grep": "(a|a)*b"}` over lines of 5,000 `a`s kept /healthz from
  answering for 72 s. Another client polls /healthz all along; every poll must be answered (the bound is
  generous on purpose: it detects a freeze; the latency figure is bench/redaction_worst_case.py's).
- Item 4: a model-chosen URL with a password and a token, and a reply quoting an AWS key, were stored
  and streamed verbatim.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI, model_env

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
URL_PASSWORD = "s3cretPassw0rd"
URL_TOKEN = "tok9f8e7d6c5b4a3"
LEAKY_URL = f"http://admin:{URL_PASSWORD}@web-prod-01/ok?token={URL_TOKEN}"


def _run_turn(c: httpx.Client, sid: str, text: str, timeout: float = 60.0) -> list[dict]:
    assert c.post(f"/api/sessions/{sid}/messages", json={"content": text}).status_code == 202
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    with c.stream("GET", f"/api/sessions/{sid}/events", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:]))
                if events[-1]["type"] == "turn_finished":
                    break
            assert time.monotonic() < deadline, "the turn never finished"
    return events


class HealthPoller(threading.Thread):
    """Polls /healthz every 50 ms from another client while the turn runs."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.latencies, self.failures = url, threading.Event(), [], []

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as c:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = c.get(self.url + "/healthz").status_code == 200
                    (self.latencies if ok else self.failures).append(time.perf_counter() - t0)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                time.sleep(0.05)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_catastrophic_grep_does_not_freeze_the_server(start_server, server_env, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(("a" * 5000 + "\n") * 400)
    # item 3: the review's 2 MB one-line log of BEGIN lines took 23 s to mask on the event loop
    (logs / "keys.log").write_text("-----BEGIN RSA PRIVATE KEY-----" * 66_000 + "\n")
    script = [
        {
            "text": "Filtering the log.",
            "calls": [
                ("log_tail", {"source": "app.log", "grep": "(a|a)*b", "lines": 400}),
                ("log_tail", {"source": "keys.log", "lines": 5}),
            ],
        },
        {
            "text": "Now with a backreference.",
            "calls": [("log_tail", {"source": "app.log", "grep": r"(a)\1b"})],
        },
        {"text": "Nothing matched."},
    ]
    with FakeOpenAI(script=script, delay_s=0.0) as fake:
        env = {**server_env, **model_env(fake), "FIRSTLINE_TARGETS__LOG_ROOTS": json.dumps([str(logs)])}
        server = start_server(env)
        poller = HealthPoller(server.url)
        poller.start()
        with httpx.Client(base_url=server.url, timeout=30) as c:
            sid = c.post("/api/sessions", json={"target": "local"}).json()["id"]
            events = _run_turn(c, sid, "why does app.log fill up?")
            other = c.post("/api/sessions", json={"target": "local"})  # another client's POST is served
            assert other.status_code == 201
        time.sleep(0.3)
        poller.stop.set()
        poller.join(10)
    results = sorted(
        (e["data"] for e in events if e["type"] == "tool_result"),
        key=lambda r: (r["error"] is not None, "BEGIN" in r["output"]),
    )
    assert results[0]["ok"] and "no line among the last 400" in results[0]["output"], results[0]
    assert results[1]["ok"] and results[1]["output"].startswith("-----BEGIN RSA PRIVATE KEY-----"), results[1]
    assert not results[2]["ok"] and "backreferences" in results[2]["error"], results[2]
    assert events[-1]["data"]["status"] == "completed"
    assert not poller.failures, poller.failures
    assert len(poller.latencies) >= 3 and max(poller.latencies) < 5.0, max(poller.latencies)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_secrets_in_tool_arguments_and_model_text_are_masked_everywhere(start_server, server_env, db_url):
    script = [
        {"text": "Checking the health endpoint.", "calls": [("http_check", {"url": LEAKY_URL})]},
        {"text": f"Your config has aws_access_key_id {AWS_KEY} in plain text; rotate it."},
    ]
    with FakeOpenAI(script=script, delay_s=0.0) as fake:
        server = start_server({**server_env, **model_env(fake)})
        with httpx.Client(base_url=server.url, timeout=30) as c:
            sid = c.post("/api/sessions", json={"target": "sandbox:nginx-port-conflict"}).json()["id"]
            streamed = json.dumps(_run_turn(c, sid, "is the site up?"))
            calls = c.get(f"/api/sessions/{sid}/tool_calls").json()
    env = {**server_env, "FIRSTLINE_DATABASE_URL": db_url}
    record = subprocess.run(
        [sys.executable, "-m", "cli", "record", sid],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = _raw_rows(db_url)
    for where, text in (
        ("SSE", streamed),
        ("GET /tool_calls", json.dumps(calls)),
        ("firstline record", record),
        ("database", rows),
    ):
        for secret in (URL_PASSWORD, URL_TOKEN, AWS_KEY):
            assert secret not in text, f"{secret} leaked into {where}"
    assert calls[0]["args"]["url"].startswith("http://admin:[REDACTED]@web-prod-01/ok?token=[REDACTED]")
    assert "[REDACTED]" in calls[0]["command"]
    assert "rotate it" in streamed and "[REDACTED]" in streamed


def _raw_rows(db_url: str) -> str:
    """Every row of every table, as text, read with SQLite itself (not through our store)."""
    import sqlite3

    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"'))
    finally:
        con.close()


def test_stream_masker_never_releases_part_of_a_secret():
    from assistant.config import Settings
    from assistant.redaction import redactor_for
    from tools.redact_stream import StreamMasker

    text = (
        f'The key {AWS_KEY} leaked. Authorization: Bearer abc123def456ghi\nand password: "correct horse" too\n'
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nQWERTYUIOP\n-----END RSA PRIVATE KEY-----\nbye now"
    )
    redactor = redactor_for(Settings())
    for size in (1, 2, 3, 5, 7, 64):
        masker = StreamMasker(redactor)
        pieces = [masker.feed(text[i : i + size]) for i in range(0, len(text), size)] + [masker.flush()]
        joined = "".join(pieces)
        for secret in (AWS_KEY, "abc123def456ghi", "correct horse", "MIIEowIBAAKCAQEA7", "QWERTYUIOP"):
            assert all(secret not in p for p in pieces) and secret not in joined, (size, secret)
        assert joined == redactor(text), size
    prose = StreamMasker(redactor)
    assert prose.feed("The disk is ") == "The disk is " and prose.feed("full, sw") == "full, "  # word by word
    assert (
        prose.feed("ap too; key ") == "swap too; key " and prose.feed("AKIA") == ""
    )  # held from an anchor on
    custom = StreamMasker(redactor_for(Settings(redact_patterns=[r"INC-\d+"])), whole_lines=True)
    assert custom.feed("ticket INC-") == "" and custom.feed("42 open\n") == "ticket [REDACTED] open\n"
