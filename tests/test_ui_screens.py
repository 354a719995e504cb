"""The chat UI on every screen, in Debian's Chromium against a real server (issue 18).

At 390, 768, 1440 and 2560 px: nothing scrolls sideways, the findings, the PIR and the approvals are
within reach, the header takes the name the first question gives the session, and every message and
tool card carries a time stamp with its date and UTC offset. Then the behaviours behind the cards:
an approval nobody answers expires (recorded by the server), a stopped turn leaves no live-looking
card, a verified fix marks its finding resolved, and a 200 KB paste becomes an attachment in which an
analyzer finds the evidence. Every test saves screenshots under artifacts/screens/ (kept by CI).
"""

from __future__ import annotations

import getpass
import re

import httpx
import pytest
from conftest import ROOT
from fake_openai import DEFAULT_SCRIPT, FakeOpenAI, model_env

SHOTS = ROOT / "artifacts" / "screens"
WIDTHS = [390, 768, 1440, 2560]
NARROW = 1100
TARGET = "sandbox:nginx-port-conflict"
FULL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC[+−]\d{2}:\d{2}$")

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]

SIDEWAYS = """() => {
  const out = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > window.innerWidth) out.push(`page ${doc.scrollWidth} > ${window.innerWidth}`);
  for (const el of document.querySelectorAll("main, .session-bar, .timeline, .turn, .composer, .sidebar, .side")) {
    if (el.offsetParent === null && getComputedStyle(el).position !== "fixed") continue;
    if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.className} ${el.scrollWidth} > ${el.clientWidth}`);
    const r = el.getBoundingClientRect();
    if (r.width && (r.left < -1 || r.right > window.innerWidth + 1)) out.push(`${el.className} outside ${r.left}..${r.right}`);
  }
  return out;
}"""

STAMPS = """() => [...document.querySelectorAll(".msg, .tool-card, .turn-foot")].map((n) => {
  const t = n.querySelector("time.when");
  return t ? [t.textContent, t.title, t.dateTime] : null;
})"""


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def no_sideways_scroll(page) -> None:
    assert page.evaluate(SIDEWAYS) == []


def in_view(page, locator) -> None:
    """Visible and horizontally inside the viewport (reachable without sideways scrolling)."""
    from playwright.sync_api import expect

    expect(locator).to_be_visible()
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= -1 and box["x"] + box["width"] <= width + 1, (box, width)


def open_page(chromium, url: str, width: int):
    page = chromium.new_page(
        viewport={"width": width, "height": 844 if width < 768 else 900}, color_scheme="dark"
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def new_session(server, **body) -> str:
    resp = httpx.post(server.url + "/api/sessions", json={"target": TARGET, **body}, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def ask(page, text: str) -> None:
    box = page.locator("#message")
    box.fill(text)
    box.press("Enter")


def show_side(page, width: int) -> None:
    if width < NARROW:
        page.locator("#toggle-side").click()


def hide_side(page, width: int) -> None:
    if width < NARROW:
        page.locator("#close-side").click()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_width_reaches_everything(chromium, start_server, server_env, width):
    """The offline model investigates, proposes the kill, and the engineer approves, all at `width`."""
    from playwright.sync_api import expect

    server = start_server(server_env)
    sid = new_session(server)
    page, errors = open_page(chromium, f"{server.url}/s/{sid}", width)
    title = page.locator("#session-title")
    expect(title).to_have_text("Untitled session")
    expect(page.locator("#conn")).to_have_text("live")
    box = page.locator("#message")
    assert box.bounding_box()["width"] >= min(width * 0.6, 600)  # a textarea one can write in, even at 390
    expect(page.locator("#composer-hint")).to_contain_text("20,000 characters")

    ask(page, "nginx on web-prod-01 returns 503")
    expect(title).to_have_text("nginx on web-prod-01 returns 503")  # named by the first question, at once
    expect(page.locator(".turn-foot")).to_have_count(1, timeout=30000)
    stamps = page.evaluate(STAMPS)
    assert len(stamps) >= 4 and all(stamps), stamps
    for text, full, iso in stamps:
        assert re.fullmatch(r"\d{2}:\d{2}:\d{2}( [AP]M)?", text) and FULL_TIME.match(full) and iso, (
            text,
            full,
            iso,
        )
    expect(page.locator(".turn-foot")).to_contain_text("(estimate, offline model)")
    no_sideways_scroll(page)
    shot(page, f"width-{width}-investigation")

    ask(page, "go ahead, kill the orphan on port 80")
    pending = page.locator(".approval-card[data-state=pending]")
    expect(pending).to_have_count(1, timeout=30000)
    expect(pending.locator(".approval-deadline")).to_contain_text("Expires at")
    page.locator("#timeline").evaluate("el => { el.scrollTop = 0; }")
    page.locator("#approvals-pending").click()  # the header leads to it from anywhere in the conversation
    in_view(page, pending.locator("button", has_text="Approve"))
    no_sideways_scroll(page)
    shot(page, f"width-{width}-approval")
    pending.locator("button", has_text="Approve").click()
    card = page.locator(".approval-card").first
    expect(card).to_have_attribute("data-state", "approved")
    expect(card.locator(".approval-decision")).to_contain_text(
        f"Approved by local:{getpass.getuser()}"
    )  # the authenticated local user
    assert FULL_TIME.match(card.locator(".approval-decision time").get_attribute("title"))
    expect(page.locator(".turn-foot")).to_have_count(2, timeout=30000)
    expect(page.locator("#approvals-pending")).to_be_hidden()

    if width < NARROW:
        expect(page.locator("#findings")).to_be_hidden()
    show_side(page, width)
    in_view(page, page.locator("#findings .finding").first)
    no_sideways_scroll(page)
    shot(page, f"width-{width}-findings")
    hide_side(page, width)

    page.locator("[data-pir=open]").click()
    expect(page.locator("#pir-panel [data-pir=document] h3")).to_contain_text(
        "Post-incident review", timeout=30000
    )
    in_view(page, page.locator("#pir-panel [data-pir=document] h3"))
    no_sideways_scroll(page)
    shot(page, f"width-{width}-pir")
    hide_side(page, width)

    page.locator("#toggle-sessions").click()  # the session list: a drawer when narrow, collapsible when wide
    item = page.locator(".session-item", has_text="nginx on web-prod-01 returns 503")
    if width < NARROW:
        in_view(page, item)
        shot(page, f"width-{width}-sessions")
    else:
        expect(item).to_be_hidden()
        page.locator("#toggle-sessions").click()
        in_view(page, item)
    no_sideways_scroll(page)
    assert not errors, errors
    page.close()


def test_sessions_search_and_filters(chromium, start_server, server_env):
    from playwright.sync_api import expect

    server = start_server(server_env)
    for _ in range(2):
        new_session(server, title="checkout 502s")
    new_session(server, title="disk full on db-1", target="sandbox:disk-full")
    page, errors = open_page(chromium, server.url + "/", 1440)
    items = page.locator(".session-item")
    expect(items).to_have_count(3)
    expect(page.locator(".session-item-title", has_text="checkout 502s (1)")).to_have_count(1)  # told apart
    expect(page.locator(".session-item-title", has_text="checkout 502s (2)")).to_have_count(1)
    page.fill("#session-search", "disk")
    expect(items).to_have_count(1)
    page.fill("#session-search", "")
    page.select_option("#session-filter-target", TARGET)
    expect(items).to_have_count(2)
    page.select_option("#session-filter-state", "running")
    expect(page.locator(".session-empty")).to_have_text("No session matches.")
    page.select_option("#session-filter-state", "idle")
    expect(items).to_have_count(2)
    no_sideways_scroll(page)
    shot(page, "sessions-filtered-1440")
    assert not errors, errors


def test_approval_expires_and_a_stopped_turn_leaves_no_live_card(chromium, start_server, server_env, db_url):
    from playwright.sync_api import expect

    kill = [
        {"text": "Stopping the orphan.", "calls": [("kill_process", {"pid": 2314})]},
        {"text": "The kill was not run."},
    ]
    with FakeOpenAI(script=kill, delay_s=0.01) as fake:
        server = start_server({**server_env, **model_env(fake), "FIRSTLINE_APPROVAL_TIMEOUT_S": "6"})
        sid = new_session(server)
        page, errors = open_page(chromium, f"{server.url}/s/{sid}", 768)
        expect(page.locator("#conn")).to_have_text("live")
        ask(page, "kill the orphan on port 80")
        card = page.locator(".approval-card")
        expect(card).to_have_attribute(
            "data-state", "pending", timeout=60000
        )  # the model gateway starts first
        expect(card.locator(".approval-deadline")).to_contain_text("after 6 s")
        expect(card).to_have_attribute("data-state", "expired", timeout=20000)  # nobody decided
        expect(card.locator(".approval-decision")).to_contain_text(
            "Expired: no decision within 6 seconds; not run"
        )
        expect(card.locator(".approval-head")).to_contain_text("Approval expired")
        expect(page.locator(".turn-foot")).to_have_count(1, timeout=20000)
        shot(page, "approval-expired-768")
        rows = httpx.get(f"{server.url}/api/sessions/{sid}/approvals", timeout=10).json()
        assert [(r["status"], r["decided_by"]) for r in rows] == [("expired", "firstline")]
        assert rows[0]["decided_at"]
        decided = _events(db_url, sid, "approval_decided")
        assert [(d["decision"], d["expired"]) for d in decided] == [("deny", True)]

        page.reload()  # rebuilt from the log: still expired, still says so
        expect(page.locator(".approval-card")).to_have_attribute("data-state", "expired")

        ask(page, "kill it again")  # this time the engineer stops the turn while the card waits
        waiting = page.locator(".approval-card[data-state=pending]")
        expect(waiting).to_have_count(1, timeout=20000)
        page.locator("#cancel-turn").click()
        expect(page.locator(".turn-foot")).to_have_count(2, timeout=20000)
        last = page.locator(".approval-card").last
        expect(last).to_have_attribute("data-state", "expired")
        expect(last.locator(".approval-decision")).to_contain_text("Not run: the turn ended")
        expect(last.locator("button")).to_have_count(0)
        expect(page.locator(".tool-card[data-state=waiting], .tool-card[data-state=running]")).to_have_count(
            0
        )
        expect(page.locator("#approvals-pending")).to_be_hidden()
        shot(page, "approval-stopped-768")
        assert not errors, errors


def test_verified_fix_marks_its_finding_resolved(chromium, start_server, server_env, db_url):
    from playwright.sync_api import expect

    diagnose = [*DEFAULT_SCRIPT[:2], {"text": "An orphaned node process holds port 80."}]
    fix = [
        {"text": "Stopping the orphan.", "calls": [("kill_process", {"pid": 2314})]},
        {"text": "Checking port 80 again.", "calls": [("port_owner", {"port": 80})]},
        {"text": "Port 80 is free now."},
    ]
    with FakeOpenAI(script=diagnose, delay_s=0.01) as fake:
        server = start_server({**server_env, **model_env(fake)})
        sid = new_session(server)
        page, errors = open_page(chromium, f"{server.url}/s/{sid}", 1440)
        expect(page.locator("#conn")).to_have_text("live")
        ask(page, "nginx on web-prod-01 returns 503")
        expect(page.locator(".turn-foot")).to_have_count(1, timeout=60000)  # the model gateway starts first
        before = httpx.get(f"{server.url}/api/sessions/{sid}/findings", timeout=10).json()
        owner = next(f for f in before if f["evidence"][0]["tool"] == "port_owner")
        assert owner["resolved_at"] is None

        fake.script = fix
        ask(page, "kill the orphan and check the port again")
        page.locator(".approval-card button", has_text="Approve").click(timeout=60000)
        expect(page.locator(".turn-foot")).to_have_count(2, timeout=30000)
        note = page.locator(".verify-note")
        expect(note).to_have_count(1)
        expect(note).to_contain_text(f"{owner['finding_id']} resolved")
        expect(note).to_contain_text("after $ kill -TERM 2314")
        item = page.locator(f"#finding-{owner['finding_id']}")
        expect(item).to_have_attribute("data-resolved", "true")
        expect(item.locator(".resolved-badge")).to_have_text("resolved")
        expect(item.locator(".finding-verified")).to_contain_text("no longer shows it")
        shot(page, "finding-resolved-1440")

        after = {
            f["finding_id"]: f
            for f in httpx.get(f"{server.url}/api/sessions/{sid}/findings", timeout=10).json()
        }
        resolved = _events(db_url, sid, "finding_resolved")
        assert [r["finding_id"] for r in resolved] == [owner["finding_id"]]
        assert (
            after[owner["finding_id"]]["resolved_at"]
            and after[owner["finding_id"]]["resolved_by"] == resolved[0]["verify_call_id"]
        )
        assert [f for f in after.values() if f["resolved_at"]] == [
            after[owner["finding_id"]]
        ]  # only what was re-checked

        page.set_viewport_size({"width": 360, "height": 740})  # the narrowest phone the issue names
        page.locator("#toggle-side").click()
        in_view(page, item.locator(".resolved-badge"))
        no_sideways_scroll(page)
        shot(page, "finding-resolved-360")
        assert not errors, errors


def test_a_200kb_paste_becomes_an_attachment_with_evidence(chromium, start_server, server_env):
    from playwright.sync_api import expect

    server = start_server(server_env)
    sid = new_session(server)
    page, errors = open_page(chromium, f"{server.url}/s/{sid}", 1440)
    expect(page.locator("#conn")).to_have_text("live")
    trace = (
        'Traceback (most recent call last):\n  File "/srv/orders/db.py", line 41, in connect\n'
        'psycopg.OperationalError: connection to server at "10.0.0.5", port 5432 failed: '
        "FATAL:  sorry, too many clients already\n"
    )
    filler = "2026-12-02T03:00:01Z INFO orders request served path=/api/v1/orders status=200 ms=12 password=hunter2\n"
    paste = filler * ((200 * 1024 - len(trace)) // len(filler)) + trace
    assert len(paste) > 200_000
    page.locator("#message").fill(paste, timeout=90000)
    expect(page.locator("#composer-hint")).to_contain_text("sent as an attachment")
    page.locator("#message").press("Enter")

    card = page.locator(".tool-card[data-tool=pasted_log]")
    expect(card).to_have_count(1, timeout=30000)
    expect(card.locator(".tool-cmd code")).to_have_text("Pasted by the engineer")
    finding = page.locator(
        "#findings .finding", has=page.locator(".evidence-src", has_text="Pasted by the engineer")
    )
    expect(finding).to_have_count(1, timeout=30000)
    expect(finding).to_contain_text("too many clients already")
    expect(page.locator(".msg-user .msg-body")).to_contain_text("pasted log attached (2,")
    expect(page.locator("#session-title")).to_contain_text(
        "psycopg.OperationalError"
    )  # named after its error
    expect(page.locator(".turn-foot")).to_have_count(1, timeout=60000)
    shot(page, "paste-attachment-1440")

    calls = httpx.get(f"{server.url}/api/sessions/{sid}/tool_calls", timeout=10).json()
    pasted = [c for c in calls if c["tool"] == "pasted_log"]
    assert len(pasted) == 1 and pasted[0]["command"] == "pasted by the engineer"
    out = pasted[0]["output"]
    assert (
        pasted[0]["truncated"] and len(out) < len(paste) and out.endswith(trace.strip())
    )  # capped, head and tail kept
    assert "hunter2" not in out  # redacted like any tool output
    findings = httpx.get(f"{server.url}/api/sessions/{sid}/findings", timeout=10).json()
    db = [f for f in findings if f["evidence"][0]["call_id"] == pasted[0]["call_id"]]
    assert db and db[0]["signature"] == "db-max-connections"
    assert all(line in out for line in db[0]["evidence"][0]["lines"])
    assert not errors, errors


def _events(db_url: str, sid: str, kind: str) -> list[dict]:
    """The session's stored events of one type, from the store (the source of truth)."""
    from assistant import store

    engine = store.open_store(db_url)
    try:
        with store.reading(engine) as db:
            return [
                ev.data.model_dump(mode="json")
                for ev in store.list_events(db, session_id=sid)
                if ev.type.value == kind
            ]
    finally:
        engine.dispose()
