"""Auth, security headers, CORS and the serve guard, against the real app on a real SQLite file.

In-process requests go through httpx's ASGI transport (the real middleware stack); the serve
guard and the token-protected server run `firstline serve` / `python -m web` as real processes;
the browser test drives headless Chromium through /login into the UI under the CSP.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from conftest import ROOT, free_port

from assistant.config import Settings
from web import security
from web.app import create_app

TOKEN = "fl-test-7f3c9a1e2b4d6f8091a3c5e7"
SANDBOX = "sandbox:nginx-port-conflict"
HEADERS = {
    "content-security-policy": security.CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'web.db'}", **kw)


async def _client(settings: Settings):
    app = create_app(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
    await app.state.runtime.startup()
    client.app = app
    return client


@pytest.fixture
async def open_client(tmp_path):
    c = await _client(_settings(tmp_path, max_body_bytes=2000))
    yield c
    await c.aclose()
    await c.app.state.runtime.shutdown()


@pytest.fixture
async def client(tmp_path):
    c = await _client(_settings(tmp_path, auth_token=TOKEN))
    yield c
    await c.aclose()
    await c.app.state.runtime.shutdown()


def assert_secure_headers(resp: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (resp.request.url, name, resp.headers.get(name))
    assert not any(h.lower().startswith("access-control-") for h in resp.headers), resp.headers


async def test_every_response_carries_security_headers_and_no_cors(open_client):
    c = open_client
    cases = [
        await c.get("/healthz"),
        await c.get("/"),
        await c.get("/static/app.css"),
        await c.get("/api/sessions", headers={"Origin": "https://evil.example"}),
        await c.get("/api/sessions/s_nope"),  # 404
        await c.post(
            "/api/sessions", content=b"{not json", headers={"Content-Type": "application/json"}
        ),  # 422
        await c.post(
            "/api/sessions", content=b"x" * 5000, headers={"Content-Type": "application/json"}
        ),  # 413
        await c.options(
            "/api/sessions",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        ),
        await c.get("/no/such/page"),
    ]
    assert [r.status_code for r in cases] == [200, 200, 200, 200, 404, 422, 413, 405, 404]
    for resp in cases:
        assert_secure_headers(resp)
    assert cases[3].headers["cache-control"] == "no-store"  # API answers are never cached


async def test_api_and_stream_need_the_token(client):
    sid = None
    r = await client.get("/api/sessions")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_secure_headers(r)
    assert (await client.get("/api/sessions", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get("/api/sessions", headers={"Authorization": f"Basic {TOKEN}"})).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    r = await client.post("/api/sessions", json={"target": SANDBOX}, headers=good)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (await client.get(f"/api/sessions/{sid}/events")).status_code == 401
    assert (await client.post(f"/api/sessions/{sid}/messages", json={"content": "hi"})).status_code == 401
    assert (await client.get("/openapi.json")).status_code == 401
    assert (await client.get("/healthz")).status_code == 200  # load balancers need no token
    assert (await client.get("/static/app.css")).status_code == 200


async def test_ui_redirects_to_login_and_login_sets_a_strict_cookie(client):
    r = await client.get("/s/s_1234?x=1", headers={"Accept": "text/html"})
    assert r.status_code == 303 and unquote(r.headers["location"]) == "/login?next=/s/s_1234?x=1"
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and 'name="token"' in page.text and 'value="/s/s_1234?x=1"' in page.text
    assert "<script" not in page.text and "style=" not in page.text  # nothing the CSP would block
    assert_secure_headers(page)

    wrong = await client.post("/login", data={"token": "nope", "next": "/s/s_1234"})
    assert wrong.status_code == 401 and "not right" in wrong.text and "set-cookie" not in wrong.headers

    ok = await client.post("/login", data={"token": TOKEN, "next": "/s/s_1234"})
    assert ok.status_code == 303 and ok.headers["location"] == "/s/s_1234"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(f"{security.COOKIE}=") and TOKEN not in cookie
    assert re.search(r"(?i)httponly", cookie) and re.search(r"(?i)samesite=strict", cookie)
    assert re.search(r"(?i)path=/", cookie)

    # the cookie now opens the UI, the API and the stream, from our own origin
    assert (await client.get("/", headers={"Accept": "text/html"})).status_code == 200
    assert (await client.get("/api/sessions")).status_code == 200
    created = await client.post(
        "/api/sessions", json={"target": SANDBOX}, headers={"Origin": "http://localhost"}
    )
    assert created.status_code == 201
    evil = await client.post(
        "/api/sessions", json={"target": SANDBOX}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403  # a cross-site write with the cookie is refused

    out = await client.post("/logout")
    assert out.status_code == 303 and security.COOKIE in out.headers["set-cookie"]
    client.cookies.clear()
    assert (await client.get("/api/sessions")).status_code == 401


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:x", ""]
)
async def test_login_never_redirects_off_site(client, target):
    r = await client.post("/login", data={"token": TOKEN, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_wrong_tokens_are_rate_limited(client):
    for _ in range(security.LOGIN_FAILURES):
        assert (await client.post("/login", data={"token": "guess"})).status_code == 401
    blocked = await client.post("/login", data={"token": "guess again"})
    assert blocked.status_code == 429 and "set-cookie" not in blocked.headers
    right = await client.post(
        "/login", data={"token": TOKEN}
    )  # issue 15 item 8: never lock the right one out
    assert right.status_code == 303 and security.COOKIE in right.headers["set-cookie"]


async def test_wrong_bearer_tokens_are_rate_limited_but_the_right_one_works(client):
    codes = [
        (await client.get("/api/sessions", headers={"Authorization": f"Bearer wrong-{i}"})).status_code
        for i in range(200)
    ]
    assert codes[: security.LOGIN_FAILURES] == [401] * security.LOGIN_FAILURES
    assert set(codes[security.LOGIN_FAILURES :]) == {429}
    assert (
        await client.get("/api/sessions", headers={"Authorization": f"Bearer {TOKEN}"})
    ).status_code == 200


async def test_cookie_is_bound_to_token_and_expires():
    from web.auth import admin_cookie, cookie_identity

    settings, other = Settings(auth_token=TOKEN), Settings(auth_token="another-token-" + "x" * 30)
    now = time.time()
    value = admin_cookie(TOKEN, int(now + security.SESSION_TTL_S))
    assert await cookie_identity(settings, None, value, now)
    assert not await cookie_identity(other, None, value, now)  # rotating the token logs everyone out
    assert not await cookie_identity(settings, None, value, now + security.SESSION_TTL_S + 1)
    expires, sig = value.split(".")
    assert not await cookie_identity(settings, None, f"{int(expires) + 9999}.{sig}", now)  # HMAC breaks
    for junk in ("", ".", "x.y", "1.", None, "\xb2.x", "9" * 5000 + ".x", "u.a.b.c", "u..1.x"):
        assert not await cookie_identity(settings, None, junk, now), junk


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_HOME=str(tmp_path / "home"),
        FIRSTLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'srv.db'}",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


def test_serve_refuses_a_public_address_without_a_token(tmp_path):
    argv = [sys.executable, "-m", "cli", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    proc = subprocess.run(
        argv, check=False, cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    said = proc.stdout + proc.stderr
    assert "FIRSTLINE_AUTH_TOKEN" in said and "--insecure" in said


def test_serve_with_a_token_starts_on_a_public_address_and_enforces_it(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path, FIRSTLINE_AUTH_TOKEN=TOKEN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(base + "/api/sessions", timeout=5).status_code == 401
        r = httpx.get(base + "/api/sessions", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    finally:
        proc.terminate()
        proc.wait(15)
