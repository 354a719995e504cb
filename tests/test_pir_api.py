"""The PIR endpoints through httpx (ASGI transport) on a real SQLite file and PostgreSQL.

The session is a real investigation (turn driver, runbook model, sandbox) stored in the
same database the app opens; the API must hand out exactly what `firstline pir` prints.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pir_sessions import REPORT, make_settings, run_session

from assistant.pir import service
from web.app import create_app


@pytest.fixture
async def api(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url)
    sid = await run_session(settings, engine, [REPORT])
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://localhost"
    ) as client:
        yield client, settings, sid
    await app.state.runtime.shutdown()


async def test_get_creates_then_post_regenerates_and_versions_are_listed(api):
    client, _settings, sid = api
    r = await client.get(f"/api/sessions/{sid}/pir")
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["version"], first["model"], first["severity"]) == (1, "rules", "SEV1")
    assert first["markdown"].startswith("# Post-incident review")
    assert (await client.get(f"/api/sessions/{sid}/pir")).json()["version"] == 1  # no new draft on a read

    r = await client.post(f"/api/sessions/{sid}/pir", json={"severity": "SEV2", "authors": ["alice", "bob"]})
    assert r.status_code == 201, r.text
    second = r.json()
    assert (second["version"], second["severity"]) == (2, "SEV2")
    assert "| Authors | alice, bob |" in second["markdown"]
    third = (await client.post(f"/api/sessions/{sid}/pir")).json()  # no body: edits carry over
    assert (third["version"], third["severity"]) == (3, "SEV2")

    versions = (await client.get(f"/api/sessions/{sid}/pir/versions")).json()
    assert [(v["version"], v["severity"]) for v in versions] == [(1, "SEV1"), (2, "SEV2"), (3, "SEV2")]
    again = (await client.get(f"/api/sessions/{sid}/pir", params={"version": 1})).json()
    assert again["markdown"] == first["markdown"]


async def test_markdown_download_is_the_cli_output(api, engine):
    client, settings, sid = api
    await client.get(f"/api/sessions/{sid}/pir")
    await client.post(f"/api/sessions/{sid}/pir", json={"severity": "P3"})
    r = await client.get(f"/api/sessions/{sid}/pir.md")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="pir-{sid}-v2.md"'
    assert r.text == await asyncio.to_thread(service.pir_for_cli, settings, sid)
    old = await client.get(f"/api/sessions/{sid}/pir.md", params={"version": 1})
    assert old.headers["content-disposition"].endswith('-v1.md"')
    assert old.text == service.get_draft(engine, sid, 1).markdown
    assert "**SEV3** (P3)" in r.text and "**SEV3**" not in old.text


async def test_errors_are_404_422_and_a_named_template_error(api, tmp_path):
    client, settings, sid = api
    for method, path in [("GET", "/pir"), ("POST", "/pir"), ("GET", "/pir/versions"), ("GET", "/pir.md")]:
        r = await client.request(method, f"/api/sessions/s_nope{path}")
        assert r.status_code == 404 and r.json()["error"] == "not_found", (method, path, r.text)
    assert (await client.get(f"/api/sessions/{sid}/pir", params={"version": 9})).status_code == 404
    assert (await client.get("/s/s_nope/pir")).status_code == 404
    r = await client.post(f"/api/sessions/{sid}/pir", json={"severity": "SEV9"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "severity"
    r = await client.post(f"/api/sessions/{sid}/pir", json={"owner": "me"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "owner"
    assert (await client.get(f"/api/sessions/{sid}/pir", params={"version": 0})).status_code == 422

    broken = tmp_path / "broken.md.j2"
    broken.write_text("# {{ pir.meta.title }}\n{% if %}\n")
    settings.pir_template = broken
    r = await client.post(f"/api/sessions/{sid}/pir")
    assert r.status_code == 500 and r.json()["error"] == "pir_template"
    assert r.json()["detail"].startswith(f"{broken}:2: template syntax error")
    assert (await client.get(f"/api/sessions/{sid}/pir/versions")).json() == []


async def test_page_uses_the_shared_renderer_and_stored_markup_stays_escaped(api, engine):
    client, settings, sid = api
    page = await client.get(f"/s/{sid}/pir")
    assert page.status_code == 200 and '<script type="module" src="/static/js/pir.js"></script>' in page.text
    script = await client.get("/static/js/pir.js")
    assert script.status_code == 200 and 'import { renderMarkdown } from "./md.js";' in script.text
    assert (await client.get("/static/js/md.js")).status_code == 200
    hostile = "<script>window.__pwned=1</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)>"
    hid = await run_session(settings, engine, [f"nginx won't start {hostile}"])
    body = (await client.get(f"/api/sessions/{hid}/pir")).json()
    assert "tree" not in body  # the UI renders `markdown` itself, with the chat's renderer
    md = body["markdown"]
    assert "\\<script\\>" in md and "\\<img src=x onerror=alert(2)\\>" in md  # escaped in the prose
    assert (
        "\\[click\\](javascript:alert(1))" in md
    )  # the reporter's words, quoted; the UI drops such links anyway


async def test_concurrent_first_reads_create_one_draft(api):
    client, _settings, sid = api
    bodies = await asyncio.gather(*(client.get(f"/api/sessions/{sid}/pir") for _ in range(4)))
    assert {b.json()["version"] for b in bodies} == {1}
    assert [v["version"] for v in (await client.get(f"/api/sessions/{sid}/pir/versions")).json()] == [1]
