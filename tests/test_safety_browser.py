"""The UI under the strict CSP and behind the token, in headless Chromium against a real server process.

Sign in through /login, run a real turn (the model is the local stand-in for a paid API,
tests/fake_openai.py), and check that the browser reported no CSP violation, no page error,
and that the session cookie is invisible to scripts.
"""

from __future__ import annotations

import os
import re

import pytest
from fake_openai import FakeOpenAI, model_env

TOKEN = "fl-browser-5b1d0c9e8a7f6e5d4c3b2a19"
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""

pytestmark = pytest.mark.browser


def test_login_then_a_turn_with_zero_csp_violations(chromium, start_server, tmp_path):
    from playwright.sync_api import expect

    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    with FakeOpenAI(delay_s=0.01) as fake:
        env.update(
            FIRSTLINE_HOME=str(tmp_path / "home"),
            FIRSTLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}",
            FIRSTLINE_AUTH_TOKEN=TOKEN,
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            NO_PROXY="127.0.0.1,localhost",
            **model_env(fake),
        )
        server = start_server(env)
        page = chromium.new_page(viewport={"width": 1280, "height": 860})
        page.add_init_script(WATCH_CSP)
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: (
                problems.append(f"console: {m.text}")
                if "Content Security Policy" in m.text or "Refused to" in m.text
                else None
            ),
        )

        page.goto(server.url + "/")
        expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
        page.fill("#token", "not-the-token")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_contain_text("not right")
        page.fill("#token", TOKEN)
        page.click("#login-submit")
        expect(page.locator("#empty-state")).to_be_visible()
        assert "firstline_session" not in page.evaluate("document.cookie")  # HttpOnly

        expect(page.locator("#session-list")).to_be_attached()
        page.wait_for_load_state("networkidle")  # app.js has wired its handlers
        page.click("#new-session")
        expect(page.locator("#new-session-dialog")).to_be_visible()
        expect(page.locator("#ns-target option[value='sandbox:nginx-port-conflict']")).to_have_count(1)
        page.select_option("#ns-target", "sandbox:nginx-port-conflict")
        page.fill("#ns-title", "csp check")
        page.click("#ns-create")
        expect(page).to_have_url(re.compile(r"/s/s_[0-9a-f]+$"))
        expect(page.locator("#conn")).to_have_text("live")  # EventSource authenticated by the cookie
        page.locator("#message").fill("nginx on web-prod-01 returns 503")
        page.locator("#message").press("Enter")
        expect(page.locator(".turn-foot")).to_have_count(1, timeout=30000)
        expect(page.locator(".tool-card")).to_have_count(2)
        expect(page.locator(".msg-assistant.answer .msg-body")).to_contain_text("Root cause")

        page.reload()  # the page and its stream come back with the same cookie
        expect(page.locator(".tool-card")).to_have_count(2)
        assert page.evaluate("window.__csp") == [], page.evaluate("window.__csp")
        assert not problems, problems
        page.close()
