"""The PIR drafted from a real session (turn driver + runbook model + sandbox), checked against the store.

Every assertion compares the Markdown with the stored rows (tool_calls, findings,
approvals), never with hand-written expectations of what the model said.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from pir_sessions import REPORT, SECRETS, make_settings, run_session

from assistant import store
from assistant.events import Event, ToolCall, ToolResultEvent
from assistant.findings.base import SIGNATURES
from assistant.pir import service
from assistant.pir.fmt import prose, ts
from assistant.pir.models import PirEdits
from assistant.pir.render import PirTemplateError

FIX = "please fix it"


def trail(db, sid: str) -> list:
    """The stored command trail in time order (what the PIR must list)."""
    return sorted(store.list_tool_calls(db, session_id=sid), key=lambda r: (store.as_utc(r.started_at), r.id))


async def cli(settings, sid, **kw) -> str:
    """`firstline pir` as the CLI calls it (it runs its own event loop, so: in a thread)."""
    return await asyncio.to_thread(service.pir_for_cli, settings, sid, **kw)


def section(markdown: str, title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert m, f"no section {title!r}"
    return m.group(1)


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows[1:]


def unquote(cell: str) -> str:
    m = re.fullmatch(r"(`+) ?(.*?) ?\1(?: \(write\))?", cell)
    assert m, cell
    return m.group(2)


@pytest.fixture
async def incident(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url)
    sid = await run_session(
        settings,
        engine,
        [REPORT, FIX],
        {"kill_process": ("approve", "alice"), "restart_service": ("deny", "bob")},
    )
    return settings, sid


async def test_pir_lists_every_command_in_order_with_stored_times_and_exit_status(incident, engine):
    settings, sid = incident
    row = await service.latest_or_create(settings, engine, sid)
    with store.reading(engine) as db:
        calls = trail(db, sid)
    assert len(calls) >= 4 and any(c.risk == "write" for c in calls)
    rows = table_rows(section(row.markdown, "Command trail"))
    assert len(rows) == len(calls)
    for n, (cells, call) in enumerate(zip(rows, calls, strict=True), start=1):
        number, time, target, command, status, ref = cells
        assert (int(number), ref) == (n, f"[out-{n}]")
        assert time == ts(store.as_utc(call.started_at))
        assert unquote(target) == call.target and unquote(command) == call.command
        if call.exit_code is not None:
            assert status.startswith(f"exit {call.exit_code}")
        else:
            assert status.startswith("not run") and call.error
    times = [c.started_at for c in calls]
    assert times == sorted(times)
    # the appendix has one excerpt per command, under the same reference
    for n, call in enumerate(calls, start=1):
        head = f"#### [out-{n}] `{call.command}`"
        assert head in row.markdown
        first_line = (call.output or "").splitlines()[0] if call.output else "(no output)"
        assert first_line in row.markdown.split(head, 1)[1]


async def test_root_cause_and_resolution_cite_stored_findings_and_approvals(incident, engine):
    settings, sid = incident
    markdown = (await service.latest_or_create(settings, engine, sid)).markdown
    with store.reading(engine) as db:
        findings = store.list_findings(db, session_id=sid)
        calls = trail(db, sid)
    top = max(findings, key=lambda f: (SIGNATURES[f.signature].rank, f.confidence))
    root = section(markdown, "Root cause and contributing factors")
    assert f"**Root cause ({top.finding_id})**: {top.title}" in root
    for ev in top.evidence:
        n = next(i for i, c in enumerate(calls, start=1) if c.call_id == ev["call_id"])
        assert f"Evidence from [out-{n}] `{calls[n - 1].command}`:" in root
        for line in ev["lines"]:
            assert line in root and line in calls[n - 1].output  # exact, from that very output
    for other in findings:
        if other.finding_id != top.finding_id:
            assert f"- {other.finding_id} — " in root
    timeline = section(markdown, "Response timeline (UTC, this session)")
    for f in findings:
        assert f"Finding {f.finding_id} ({f.severity}): {f.title}" in timeline
    assert "Diagnosis stated: " + top.finding_id in timeline

    with store.reading(engine) as db:
        approvals = store.list_approvals(db, session_id=sid)
    approved = [a for a in approvals if a.status == "approved"]
    denied = [a for a in approvals if a.status == "denied"]
    assert approved and denied
    resolution = section(markdown, "Resolution and mitigation")
    executed, proposed = resolution.split("**Proposed but not executed**")
    for a in approved:
        assert f"`{a.command}` on {a.target} — approved by alice" in executed
    for a in denied:
        assert f"`{a.command}` — approval request: denied by bob (not during business hours)" in proposed
    timeline = section(markdown, "Response timeline (UTC, this session)")
    assert "Approved by alice" in timeline and "Denied by bob" in timeline
    metrics = section(markdown, "Detection and resolution metrics")
    assert "approved by alice" in metrics


async def test_no_secret_from_a_tool_output_or_the_report_reaches_the_pir(incident, engine):
    settings, sid = incident
    with store.reading(engine) as db:
        outputs = "\n".join(c.output or "" for c in store.list_tool_calls(db, session_id=sid))
    assert "upstream shop-db postgres://app:[REDACTED]@db" in outputs  # the secret was in a tool output
    # and one bypassing the runner entirely (an old recording, a replay written by hand)
    raw = "DATABASE_URL=postgres://app:S3cretPassw0rd@db:5432/shop\npassword=hunter2hunter2\n"
    command = "tail -n 50 /etc/app.env"
    call = ToolCall(
        call_id="raw1", tool="log_tail", args={"source": "/etc/app.env"}, command=command, target="replay"
    )
    result = ToolResultEvent(
        call_id="raw1", tool="log_tail", ok=True, exit_code=0, output=raw, command=command
    )
    for payload in (call, result):
        store.append(engine, session_id=sid, event=Event.of(payload))
    row = await service.regenerate(settings, engine, sid)
    as_json = await cli(settings, sid, as_json=True)
    assert "tail -n 50 /etc/app.env" in row.markdown
    for secret in SECRETS:
        assert secret not in row.markdown
        assert secret not in json.dumps(row.data)
        assert secret not in as_json
    assert "postgres://app:[REDACTED]@db:5432/shop" in row.markdown


async def test_custom_template_is_used_and_a_broken_one_names_file_and_line(incident, engine, tmp_path):
    settings, sid = incident
    team = tmp_path / "team" / "our-pir.md.j2"
    team.parent.mkdir()
    team.write_text(
        "# {{ pir.meta.title }}\n{% for c in pir.facts.commands %}{{ c.ref }}={{ c.command }}\n"
        "{% endfor %}severity {{ pir.meta.severity.level }}\n"
    )
    custom = settings.model_copy(update={"pir_template": team})
    row = await service.regenerate(custom, engine, sid)
    with store.reading(engine) as db:
        calls = trail(db, sid)
    expected = "".join(f"out-{i}={c.command}\n" for i, c in enumerate(calls, start=1))
    assert row.markdown.startswith("# ") and expected in row.markdown and "severity SEV1" in row.markdown

    team.write_text("# ok\n\n{% for c in pir.facts.commands %}\n{{ c.ref }\n{% endfor %}\n")
    with pytest.raises(PirTemplateError, match=rf"^{re.escape(str(team))}:4: template syntax error"):
        await service.regenerate(custom, engine, sid)
    team.write_text("# ok\n{{ pir.meta.title }}\n\n{{ pir.meta.no_such_field }}\n")
    with pytest.raises(PirTemplateError, match=rf"^{re.escape(str(team))}:4: UndefinedError"):
        await service.regenerate(custom, engine, sid)
    missing = settings.model_copy(update={"pir_template": tmp_path / "nope.md.j2"})
    with pytest.raises(PirTemplateError, match=r"nope\.md\.j2: PIR template not found"):
        await service.regenerate(missing, engine, sid)
    with store.reading(engine) as db:  # nothing was stored by the failures
        assert [d.version for d in service.drafts.list_versions(db, session_id=sid)] == [1]


async def test_versions_are_kept_and_edits_carry_over(incident, engine):
    settings, sid = incident
    first = await service.latest_or_create(settings, engine, sid)
    assert (await service.latest_or_create(settings, engine, sid)).version == first.version == 1
    edits = PirEdits(severity="p3", authors=["alice", "bob"])
    second = await service.regenerate(settings, engine, sid, edits)
    third = await service.regenerate(settings, engine, sid)
    assert (second.version, third.version) == (2, 3)
    assert "**SEV1** (P1)" in first.markdown
    for row in (second, third):
        assert "**SEV3** (P3) — set by a person" in row.markdown
        assert "| Authors | alice, bob |" in row.markdown
    racing = await asyncio.gather(*(service.regenerate(settings, engine, sid) for _ in range(3)))
    assert sorted(r.version for r in racing) == [4, 5, 6]
    versions = service.list_drafts(engine, sid)
    assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]
    assert versions[0].markdown == first.markdown  # older drafts are never rewritten
    assert await cli(settings, sid) == versions[-1].markdown
    assert json.loads(await cli(settings, sid, as_json=True))["version"] == 6
    assert (await cli(settings, sid, regenerate=True)).startswith("# Post-incident review")
    assert [v.version for v in service.list_drafts(engine, sid)][-1] == 7


async def test_unknown_session_is_a_clear_lookup_error(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url)
    with pytest.raises(LookupError, match="no session 's_nope'"):
        await cli(settings, "s_nope")
    with pytest.raises(LookupError):
        await service.regenerate(settings, engine, "s_nope")


async def test_related_sessions_share_a_finding_signature(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url)
    earlier = await run_session(
        settings, engine, ["nginx won't start on web-prod-01"], title="last week's outage"
    )
    other = await run_session(settings, engine, ["is the disk on web-prod-01 full? df please"])
    sid = await run_session(settings, engine, [REPORT])
    markdown = (await service.regenerate(settings, engine, sid)).markdown
    related = section(markdown, "Related or recurring incidents")
    with store.reading(engine) as db:
        mine = {f.signature for f in store.list_findings(db, session_id=sid)}
        theirs = {f.signature for f in store.list_findings(db, session_id=other)}
    assert f"`{earlier}`" in related and "last week's outage" in related
    assert (f"`{other}`" in related) == bool(mine & theirs)


async def test_an_empty_session_gives_a_pir_of_todos_not_inventions(tmp_path, db_url, engine):
    settings = make_settings(tmp_path, db_url)
    with store.writing(engine) as db:
        sid = store.create_session(db, target="local", model="firstline/runbook").id
    markdown = (await service.regenerate(settings, engine, sid)).markdown
    assert "TODO(incident commander): not stated in the report" in markdown
    assert "TODO(owner): the root cause was not established in this session" in markdown
    assert "No diagnostic command ran." in markdown and "| – | – | – | no commands ran | – | – |" in markdown
    metrics = section(markdown, "Detection and resolution metrics")
    assert "| Time to detect | TODO(owner) | TODO(owner) |" in metrics
    assert "| Time to mitigate | TODO(owner) | TODO(owner) |" in metrics


def test_drafted_prose_never_carries_a_script_link_into_the_exported_file():
    """The .md file leaves our UI (wikis, tickets): only http(s), mailto and anchor links stay links."""
    text = prose("see [x](javascript:alert(1)), [y]( data:text/html,z) and [ok](https://status.example/1)")
    assert "](javascript:" not in text and "]( data:" not in text
    assert "[ok](https://status.example/1)" in text and "[x]\\(javascript:alert(1))" in text
