"""The browser UI in headless Chromium (Debian's /usr/bin/chromium via Python playwright) against a real server.

Start a session from the dialog, send with Enter, watch text stream in and tool cards / findings
appear, reload mid-turn and see the conversation resume without duplicates, approve a write action,
and check that HTML in model text and tool output is shown as text and never runs.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI, model_env

from assistant import store
from assistant.events import Event, ToolCall, ToolResultEvent

XSS_OUTPUT = '<script>window.__pwned=3</script>\n<img src=x onerror="window.__pwned=4">\nplain line'

STREAMING_PARTIAL = """() => {
  const b = document.querySelector(".msg-assistant.streaming .msg-body");
  if (b && b.textContent.trim()) { window.__partial = b.textContent; return true; }
  return false;
}"""

pytestmark = pytest.mark.browser


def inject_tool_output(db_url: str, sid: str) -> None:
    """A tool result whose output is hostile HTML, appended by another process (post-hoc)."""
    engine = store.open_store(db_url)
    try:
        store.append(
            engine,
            session_id=sid,
            event=Event.of(
                ToolCall(
                    call_id="cxss",
                    tool="log_tail",
                    args={"source": "/var/log/app.log"},
                    command="tail -n 50 /var/log/app.log",
                    target="sandbox:nginx-port-conflict",
                ),
                "t_injected",
            ),
        )
        store.append(
            engine,
            session_id=sid,
            event=Event.of(
                ToolResultEvent(
                    call_id="cxss",
                    tool="log_tail",
                    ok=True,
                    exit_code=0,
                    duration_ms=3.0,
                    output=XSS_OUTPUT,
                    command="tail -n 50 /var/log/app.log",
                ),
                "t_injected",
            ),
        )
    finally:
        engine.dispose()


def test_ui_end_to_end(chromium, start_server, server_env, db_url, request):
    from playwright.sync_api import expect

    with FakeOpenAI(delay_s=0.08) as fake:
        server = start_server({**server_env, **model_env(fake)})
        page = chromium.new_page(viewport={"width": 1440, "height": 900}, color_scheme="dark")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append(f"unexpected dialog: {d.message}"))
        page.goto(server.url + "/")
        expect(page.locator("#empty-state")).to_be_visible()

        # new session from the keyboard: Ctrl+K, pick the sandbox target, start
        page.keyboard.press("Control+k")
        expect(page.locator("#new-session-dialog")).to_be_visible()
        expect(page.locator("#ns-target option[value='sandbox:nginx-port-conflict']")).to_have_count(1)
        page.select_option("#ns-target", "sandbox:nginx-port-conflict")
        expect(page.locator("#ns-model")).to_have_value("openai/fake-sre")
        page.fill("#ns-title", "web-prod-01 503s")
        page.click("#ns-create")
        expect(page.locator("#session-title")).to_have_text("web-prod-01 503s")
        expect(page).to_have_url(re.compile(r"/s/s_[0-9a-f]+$"))
        sid = page.url.rsplit("/", 1)[1]
        expect(page.locator("#conn")).to_have_text("live")

        # Shift+Enter is a newline, Enter sends
        box = page.locator("#message")
        box.fill("nginx on web-prod-01 returns 503")
        box.press("Shift+Enter")
        box.type("since 03:00")
        assert box.input_value() == "nginx on web-prod-01 returns 503\nsince 03:00"
        box.press("Enter")
        expect(page.locator(".msg-user .msg-body")).to_have_text(
            "nginx on web-prod-01 returns 503\nsince 03:00"
        )
        expect(page.locator("#status-badge")).to_have_text("running")
        page.wait_for_function(STREAMING_PARTIAL)  # a bubble with some text, still streaming
        partial = page.evaluate("window.__partial")
        expect(page.locator(".tool-card").first).to_be_visible()
        assert page.locator(".turn-foot").count() == 0  # still mid-turn

        page.reload()  # mid-turn: rebuilt from the event log, then live again
        expect(page.locator("#session-title")).to_have_text("web-prod-01 503s")
        expect(page.locator(".turn-foot")).to_have_count(1, timeout=30000)
        expect(page.locator(".msg-user")).to_have_count(1)
        expect(page.locator(".tool-card")).to_have_count(2)
        expect(page.locator(".tool-card .tool-cmd code").first).to_have_text("$ systemctl status nginx")
        expect(page.locator(".tool-card").first).to_have_attribute("data-state", "fail")
        expect(page.locator(".tool-card .tool-exit").first).to_have_text("exit 3")
        expect(page.locator("#findings .finding").first).to_contain_text("port 80")
        expect(page.locator(".tool-output").first).not_to_have_attribute("open", "")  # collapsed by default
        answer = page.locator(".msg-assistant.answer .msg-body")
        expect(answer).to_contain_text("Root cause")
        texts = page.locator(".msg-assistant .msg-body").all_inner_texts()

        def norm(t):
            return " ".join(re.sub(r"[*`_]", "", t).split())

        assert any(norm(t).startswith(norm(partial)) and len(norm(t)) > len(norm(partial)) for t in texts), (
            partial,
            texts,
        )
        expect(answer.locator("strong").first).to_have_text("Root cause")
        expect(answer).to_contain_text("<script>window.__pwned=1</script>")  # model HTML shown as text
        expect(answer).to_contain_text('<img src=x onerror="window.__pwned=2">')
        assert page.locator(".timeline img, .timeline script").count() == 0
        expect(page.locator("#status-badge")).to_have_text("idle")

        # a write action: the approval card, Approve, then the tool runs
        fake.script = [
            {"text": "Stopping the orphan.", "calls": [("kill_process", {"pid": 2314})]},
            {"text": "The orphan is stopped; nginx can be restarted."},
        ]
        box.fill("go ahead, kill the orphan on port 80")
        box.press("Enter")
        card = page.locator(".approval-card")
        expect(card).to_have_attribute("data-state", "pending", timeout=20000)
        expect(page.locator(".tool-card", has_text="kill_process").locator(".approval-card")).to_have_count(1)
        expect(
            page.locator(".tool-card", has_text="kill_process").locator(".tool-cmd code").first
        ).to_have_text("$ kill -TERM 2314")
        card.locator(".approval-comment").fill("old deploy leftover")
        card.locator("button", has_text="Approve").click()
        expect(card).to_have_attribute("data-state", "approved")
        expect(card.locator(".approval-decision")).to_contain_text("old deploy leftover")
        expect(page.locator(".turn-foot")).to_have_count(2, timeout=30000)
        expect(page.locator(".tool-card", has_text="kill_process")).to_have_attribute("data-state", "ok")

        # hostile tool output injected from another process: streamed in, shown as text, runs nothing
        inject_tool_output(db_url, sid)
        xss = page.locator("#call-cxss")
        expect(xss).to_have_count(1, timeout=10000)
        xss.locator("summary").click()
        expect(xss.locator("pre.output")).to_have_text(XSS_OUTPUT)
        assert xss.locator("img, script").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert not errors, errors

        out = ROOT / "artifacts"
        out.mkdir(exist_ok=True)
        page.locator("#timeline").evaluate("el => { el.scrollTop = 0; }")
        page.screenshot(path=str(out / f"ui-{request.node.callspec.id}.png"))
        page.locator("#timeline").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.screenshot(path=str(out / f"ui-{request.node.callspec.id}-end.png"))
        page.close()


MD_CASES = r"""
const { renderBlocks } = await import("/js/md.js");
const html = (md) => { const d = document.createElement("div"); d.append(renderBlocks(md)); return d; };
const out = {};
let d = html("**Root cause** and *em* and `code <b>x</b>` and snake_case_name and window.__pwned=1");
out.inline = [d.querySelector("strong")?.textContent, d.querySelector("em")?.textContent,
              d.querySelector("code")?.textContent, d.querySelectorAll("strong, em").length, d.textContent];
d = html("# Diagnosis\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted");
out.blocks = [d.querySelector("h3")?.textContent, d.querySelectorAll("ul > li").length,
              d.querySelector("ul ul li")?.textContent, d.querySelectorAll("ol > li").length,
              d.querySelector("blockquote")?.textContent];
d = html("```\n<script>alert(1)</script>\n```\n<img src=x onerror=alert(2)> <b>bold?</b>");
out.code = [d.querySelector("pre code")?.textContent, d.querySelectorAll("script, img, b").length,
            d.querySelector("p")?.textContent];
d = html("[ok](https://example.com/x) [bad](javascript:alert(1)) see http://127.0.0.1:8080/status.");
out.links = [...d.querySelectorAll("a")].map((a) => [a.textContent, a.getAttribute("href"), a.rel]);
d = html("| PID | COMMAND |\n|-----|---------|\n| 2314 | node |");
out.table = [...d.querySelectorAll("th, td")].map((c) => c.textContent);
const all = html("# h\n**b** *i* ~~s~~ `c` [l](https://x.io)\n\n- a\n1. b\n> q\n\n---\n|a|b|\n|-|-|\n|1|2|");
out.tags = [...new Set([...all.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()))].sort();
return out;
"""


def test_markdown_renderer_builds_safe_dom(chromium, tmp_path):
    """web/static/js/md.js in the real browser: structure right, HTML never parsed, unsafe links dropped."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(ROOT / "web" / "static"))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        page = chromium.new_page()
        page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/js/")  # an HTML page of that origin
        out = page.evaluate(f"async () => {{ {MD_CASES} }}")
    finally:
        httpd.shutdown()
    strong, em, code, n_emph, text = out["inline"]
    assert (strong, em, code, n_emph) == ("Root cause", "em", "code <b>x</b>", 2)
    assert "snake_case_name" in text and "window.__pwned=1" in text
    assert out["blocks"] == ["Diagnosis", 3, "nested", 2, "quoted"]
    assert out["code"] == ["<script>alert(1)</script>", 0, "<img src=x onerror=alert(2)> <b>bold?</b>"]
    assert out["links"] == [
        ["ok", "https://example.com/x", "noopener noreferrer nofollow"],
        ["http://127.0.0.1:8080/status", "http://127.0.0.1:8080/status", "noopener noreferrer nofollow"],
    ]
    assert out["table"] == ["PID", "COMMAND", "2314", "node"]
    assert set(out["tags"]) <= {
        "h3",
        "p",
        "strong",
        "em",
        "del",
        "code",
        "a",
        "ul",
        "ol",
        "li",
        "blockquote",
        "hr",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "br",
        "pre",
    }
