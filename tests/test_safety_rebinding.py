"""Issue 15 item 1: DNS rebinding and cross-site writes, against a real `python -m web` process.

The review's attack: with no token, a page on a rebinding domain created a session on `local`, asked
it to kill a process and approved it with `{"by": "attacker"}`. Every step now stops at the Host check;
a body-less cross-site form POST (which returned 201) and a cross-site fetch are refused too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

ATTACKER = "rebind.attacker.example"


@pytest.fixture
def server(server_env, start_server):
    server_env["FIRSTLINE_ALLOWED_HOSTS"] = json.dumps(["firstline.corp.example", "*.ops.example"])
    return start_server(server_env)


@pytest.fixture
def victim():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(10)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_dns_rebinding_attack_is_refused_at_every_step(server, victim):
    rebound = {
        "Host": f"{ATTACKER}:{server.port}",
        "Origin": f"http://{ATTACKER}:{server.port}",
        "Sec-Fetch-Site": "same-origin",
    }  # what the browser sends once the name points at us
    with httpx.Client(base_url=server.url, timeout=30) as c:
        created = c.post("/api/sessions", json={"target": "local"}, headers=rebound)
        assert created.status_code == 421 and "FIRSTLINE_ALLOWED_HOSTS" in created.json()["detail"]
        # even with a session id learned elsewhere, nothing answers to the attacker's name
        sid = c.post("/api/sessions", json={"target": "local"}).json()["id"]
        said = c.post(
            f"/api/sessions/{sid}/messages", json={"content": f"kill {victim.pid}"}, headers=rebound
        )
        assert said.status_code == 421
        decided = c.post(
            f"/api/sessions/{sid}/approvals/a_x",
            json={"decision": "approve", "by": "attacker"},
            headers=rebound,
        )
        assert decided.status_code == 421
        assert c.get("/api/sessions", headers={"Host": ATTACKER}).status_code == 421  # reads too
        assert c.get("/", headers={"Host": ATTACKER}).status_code == 421
        assert c.get(f"/api/sessions/{sid}/events", headers={"Host": ATTACKER}).status_code == 421
    assert victim.poll() is None  # still alive


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_names_we_answer_to(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for host in (
            "127.0.0.1",
            "localhost",
            f"localhost:{server.port}",
            "[::1]:8000",
            "127.0.0.2",
            "firstline.corp.example",
            f"FirstLine.Corp.Example:{server.port}",
            "a.ops.example",
        ):
            assert c.get("/api/sessions", headers={"Host": host}).status_code == 200, host
        for host in (
            "evil.example",
            "firstline.corp.example.evil.example",
            "ops.example.evil",
            "10.0.0.9",
            "localhost.evil.example",
            "",
        ):
            assert c.get("/api/sessions", headers={"Host": host}).status_code == 421, host
        assert c.get("/healthz", headers={"Host": "10.0.0.9:8000"}).status_code == 200  # probes by address


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cross_site_writes_are_refused_without_a_token(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        sid = c.post("/api/sessions", json={"target": "sandbox:nginx-port-conflict"}).json()["id"]
        own = f"http://127.0.0.1:{server.port}"
        # the review's body-less cross-site form POST (it returned 201)
        form = c.post(
            f"/api/sessions/{sid}/pir",
            headers={"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 403 and form.json()["error"] == "forbidden"
        assert c.post(f"/api/sessions/{sid}/pir", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert c.post(f"/api/sessions/{sid}/pir", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
        assert c.post(f"/api/sessions/{sid}/pir", headers={"Origin": "null"}).status_code == 403
        assert c.delete(f"/api/sessions/{sid}", headers={"Origin": "http://127.0.0.1:1"}).status_code == 403
        assert (
            c.patch(
                f"/api/sessions/{sid}", json={"title": "x"}, headers={"Origin": "https://evil.example"}
            ).status_code
            == 403
        )
        # our own page's fetches, and clients that are not browsers, still work
        ok = c.patch(
            f"/api/sessions/{sid}",
            json={"title": "mine"},
            headers={"Origin": own, "Sec-Fetch-Site": "same-origin"},
        )
        assert ok.status_code == 200 and ok.json()["title"] == "mine"
        assert c.patch(f"/api/sessions/{sid}", json={"title": "curl"}).status_code == 200
        # what Chromium sends for our own form posts and fetches under Referrer-Policy: no-referrer
        assert (
            c.patch(
                f"/api/sessions/{sid}",
                json={"title": "ui"},
                headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
            ).status_code
            == 200
        )
        # a cross-site GET reads nothing it could not already (no CORS headers) but is not refused
        assert c.get("/api/sessions", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
