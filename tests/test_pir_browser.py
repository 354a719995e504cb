"""The Draft PIR view in a real browser (chromium) against a real server process.

It renders the stored draft as DOM (markup in the engineer's words stays text), the chat
page's "Draft PIR" button opens it in the side panel, and Download saves exactly the
Markdown `firstline pir SESSION` prints.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pir_sessions import make_settings, run_session

from assistant import store
from assistant.pir import service

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOSTILE = (
    'nginx won\'t start on web-prod-01, 503 for everyone <img src=x onerror="window.__pwned=1"> '
    "<script>window.__pwned=2</script>"
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


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
def test_draft_pir_view_renders_and_downloads_the_cli_markdown(tmp_path, db_url, server_env, start_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    # The first draft is generated on first view; on a loaded 2-core CI machine that took over 5 s once.
    sync_api.expect.set_options(timeout=30_000)
    settings, sid = build_session(tmp_path, db_url)
    server_env["FIRSTLINE_TARGETS__SCENARIOS_DIR"] = str(tmp_path / "scenarios")
    server = start_server(server_env)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}/s/{sid}/pir")
            doc = page.locator("[data-pir=document]")
            sync_api.expect(doc.locator("h1")).to_contain_text("Post-incident review")
            sync_api.expect(doc.locator("h2", has_text="Command trail")).to_be_visible()
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
            sync_api.expect(panel.locator("h1")).to_contain_text("Post-incident review")
            sync_api.expect(page.locator("#pir-panel [data-pir=status]")).to_contain_text("Version 2")
            # The page data and app.js both announce the session; a late second announcement (a slow session
            # fetch on a busy machine) must not close the panel the user just opened.
            page.evaluate(
                "id => document.dispatchEvent(new CustomEvent('firstline:session', {detail: {id}}))", sid
            )
            sync_api.expect(page.locator("#pir-panel")).to_be_visible()
            sync_api.expect(panel.locator("h1")).to_contain_text("Post-incident review")
            page.evaluate(
                "() => document.dispatchEvent(new CustomEvent('firstline:session', {detail: {id: 's_other'}}))"
            )
            sync_api.expect(
                page.locator("#pir-panel")
            ).to_be_hidden()  # another session: its own, closed panel
            assert errors == []
        finally:
            browser.close()
