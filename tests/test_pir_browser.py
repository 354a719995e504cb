"""The Draft PIR view in a real browser (chromium) against a real server process.

It renders the stored draft as DOM (markup in the engineer's words stays text), the chat
page's "Draft PIR" button opens it in the side panel, Download saves exactly the Markdown
`firstline pir SESSION` prints, and the same Markdown renders to the same DOM in a chat
answer and on the PIR page (one renderer, web/static/js/md.js).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fake_openai import FakeOpenAI, model_env
from pir_sessions import make_settings, run_session

from assistant import store
from assistant.pir import service

HOSTILE = (
    'nginx won\'t start on web-prod-01, 503 for everyone <img src=x onerror="window.__pwned=1"> '
    "<script>window.__pwned=2</script>"
)

# Every block and span md.js knows, raw HTML and a javascript: link (no Jinja syntax: it is also a PIR layout).
SAMPLE = """# Diagnosis: nginx *down* on `web-prod-01`

## Evidence

- **bind()** failed: ``98: Address `already` in use``
- ~~DNS~~ ruled out, see [the runbook](https://example.com/runbook#nginx)
  - nested: http://127.0.0.1:8080/status and snake_case_name stay plain

3. `ss -ltnp`
4. stop the orphan\\_process

> a quoted line
> and its second line

| PID | COMMAND | RSS |
|-----|:-------:|----:|
| 2314 | `node \\| tee` | 12 MB |

````bash
$ ss -ltnp | grep :80
```
LISTEN 0 511 0.0.0.0:80 users:(("node",pid=2314))
````

[evil](javascript:alert(1)) and <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2"> stay text.

---

_Drafted from `s_1a2b_c3`; review before sharing._
"""

pytestmark = pytest.mark.browser


def cli_markdown(settings, sid: str) -> str:
    """`firstline pir SESSION` (it runs its own event loop; Playwright's sync API holds this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(service.pir_for_cli, settings, sid).result()


def build_session(tmp_path: Path, db_url: str) -> tuple[object, str]:
    settings = make_settings(tmp_path, db_url)
    engine = store.open_store(db_url)
    try:
        sid = asyncio.run(run_session(settings, engine, [HOSTILE]))
    finally:
        engine.dispose()
    return settings, sid


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_draft_pir_view_renders_and_downloads_the_cli_markdown(
    tmp_path, db_url, server_env, start_server, request
):
    sync_api = pytest.importorskip("playwright.sync_api")
    # The first draft is generated on first view; on a loaded 2-core CI machine that took over 5 s once.
    sync_api.expect.set_options(timeout=30_000)
    settings, sid = build_session(
        tmp_path, db_url
    )  # its own event loop, before Playwright's takes the thread
    chromium = request.getfixturevalue("chromium")
    server_env["FIRSTLINE_TARGETS__SCENARIOS_DIR"] = str(tmp_path / "scenarios")
    server = start_server(server_env)
    page = chromium.new_page(accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/s/{sid}/pir")
    doc = page.locator("[data-pir=document]")
    sync_api.expect(doc.locator("h3")).to_contain_text("Post-incident review")
    sync_api.expect(doc.locator("h4", has_text="Command trail")).to_be_visible()
    assert doc.locator("table").count() >= 4 and doc.locator("pre code").count() >= 2
    sync_api.expect(doc).to_contain_text('<img src=x onerror="window.__pwned=1">')  # shown, as text
    assert page.evaluate("window.__pwned") is None and doc.locator("img, script").count() == 0
    with page.expect_download() as info:
        page.locator("[data-pir=download]").click()
    saved = Path(info.value.path()).read_text(encoding="utf-8")
    assert info.value.suggested_filename == f"pir-{sid}-v1.md"
    assert saved == cli_markdown(settings, sid)

    page.locator("[data-pir=severity]").select_option("SEV3")
    page.locator("[data-pir=regenerate]").click()
    sync_api.expect(page.locator("[data-pir=status]")).to_contain_text("Version 2 · SEV3")
    sync_api.expect(page.locator("[data-pir=versions] option")).to_have_count(2)

    page.goto(f"{server.url}/s/{sid}")  # the chat page's hook
    page.locator("[data-pir=open]").click()
    panel = page.locator("#pir-panel [data-pir=document]")
    sync_api.expect(panel.locator("h3")).to_contain_text("Post-incident review")
    sync_api.expect(page.locator("#pir-panel [data-pir=status]")).to_contain_text("Version 2")
    # The page data and app.js both announce the session; a late second announcement (a slow session
    # fetch on a busy machine) must not close the panel the user just opened.
    page.evaluate("id => document.dispatchEvent(new CustomEvent('firstline:session', {detail: {id}}))", sid)
    sync_api.expect(page.locator("#pir-panel")).to_be_visible()
    sync_api.expect(panel.locator("h3")).to_contain_text("Post-incident review")
    page.evaluate(
        "() => document.dispatchEvent(new CustomEvent('firstline:session', {detail: {id: 's_other'}}))"
    )
    sync_api.expect(page.locator("#pir-panel")).to_be_hidden()  # another session: its own, closed panel
    assert errors == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_same_markdown_renders_the_same_in_chat_and_on_the_pir_page(
    tmp_path, server_env, start_server, chromium
):
    """The model answers SAMPLE in chat; a PIR layout that is SAMPLE word for word drafts the PIR. Both
    surfaces must build the same DOM, with raw HTML shown as text and the javascript: link dropped."""
    from playwright.sync_api import expect

    layout = tmp_path / "sample.md.j2"
    layout.write_text(SAMPLE, encoding="utf-8")
    with FakeOpenAI(script=[{"text": SAMPLE}], delay_s=0.005, whole_text="{}") as fake:
        server = start_server({**server_env, **model_env(fake), "FIRSTLINE_PIR_TEMPLATE": str(layout)})
        created = httpx.post(
            f"{server.url}/api/sessions", json={"target": "sandbox:nginx-port-conflict"}, timeout=10
        )
        sid = created.json()["id"]
        page = chromium.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/s/{sid}")
        page.locator("#message").fill("nginx returns 503")
        page.locator("#message").press("Enter")
        answer = page.locator(".msg-assistant:not(.streaming) .msg-body")
        expect(answer).to_contain_text("stay text.", timeout=30_000)
        chat = answer.inner_html()

        page.goto(f"{server.url}/s/{sid}/pir")
        doc = page.locator("[data-pir=document]")
        expect(doc.locator("hr")).to_have_count(1, timeout=30_000)
        pir = doc.inner_html()

        assert chat == pir
        assert doc.locator("h3").inner_text().startswith("Diagnosis: nginx down on web-prod-01")
        assert doc.locator("h4").inner_text() == "Evidence"
        assert doc.locator(":scope > ul > li").count() == 2 and doc.locator("ul ul li").count() == 1
        assert doc.locator("ol").get_attribute("start") == "3"
        assert doc.locator("ol").inner_text().endswith("stop the orphan_process")
        assert doc.locator("li code").first.inner_text() == "98: Address `already` in use"
        assert doc.locator("blockquote br").count() == 1
        assert doc.locator("th, td").all_inner_texts() == [
            "PID",
            "COMMAND",
            "RSS",
            "2314",
            "node | tee",
            "12 MB",
        ]
        assert doc.locator("th.md-center, td.md-center").count() == 2
        assert doc.locator("pre code").inner_text().splitlines()[1] == "```"  # a shorter fence stays text
        assert doc.locator("pre code").get_attribute("data-lang") == "bash"
        hrefs = doc.locator("a").evaluate_all("els => els.map((a) => a.getAttribute('href'))")
        assert hrefs == ["https://example.com/runbook#nginx", "http://127.0.0.1:8080/status"]
        expect(doc).to_contain_text(
            '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2">'
        )
        assert doc.locator("em").last.inner_text() == "Drafted from s_1a2b_c3; review before sharing."
        assert doc.locator("img, script").count() == 0 and page.evaluate("window.__pwned") is None
        assert errors == []
