"""`firstline record`: a real session becomes a case; filled in, the case replays and passes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import yaml

from assistant.config import Settings
from assistant.context import TurnContext, deny_all
from assistant.events import Event, EventType, ToolCall, ToolResultEvent, TurnFinished, UserMessage
from assistant.loop import new_turn_id, run_turn, user_message_event
from evals.format import load_cases
from evals.record import record_session, session_to_case
from evals.runner import run_cli
from tools.targets import open_target

SCENARIO = "sandbox:nginx-port-conflict"
ASK = "Our site on web-prod-01 returns 503 since the deploy. Can you check nginx?"


async def _sandbox_session(settings: Settings) -> list[Event]:
    """Run the real loop with the default offline model against the sandbox, as `firstline chat` would."""
    target = open_target(SCENARIO, settings.targets)
    turn_id = new_turn_id()
    ctx = TurnContext(
        settings=settings,
        target=target,
        model="firstline/runbook",
        session_id="s-" + uuid.uuid4().hex[:8],
        turn_id=turn_id,
        approver=deny_all,
    )
    events = [user_message_event(ASK, turn_id)]
    async for event in run_turn(ctx, [], ASK):
        events.append(event)
    return events


def test_sandbox_session_records_then_replays_and_passes(tmp_path):
    settings = Settings(home=tmp_path / "home")
    events = asyncio.run(_sandbox_session(settings))
    meta = {
        "id": "s-42",
        "title": "nginx down on web-prod-01",
        "target": SCENARIO,
        "model": "firstline/runbook",
    }
    text = session_to_case(events, meta)
    doc = yaml.safe_load(text)
    results = {e.data.call_id: e.data for e in events if e.type is EventType.TOOL_RESULT}
    calls = [e.data for e in events if e.type is EventType.TOOL_CALL]
    assert doc["turns"] == [ASK] and doc["target"] == {"name": SCENARIO, "kind": "host"}
    assert doc["expect"]["tools_called"] == list(dict.fromkeys(c.tool for c in calls))
    assert [(t["tool"], t["args"], t["output"]) for t in doc["tools"]] == [
        (c.tool, c.args, results[c.call_id].output) for c in calls if results[c.call_id].exit_code is not None
    ]
    assert "port_owner" in doc["expect"]["tools_called"]

    case_file = tmp_path / "cases" / "recorded.yaml"
    case_file.parent.mkdir()
    case_file.write_text(text)
    unfinished = load_cases([case_file])
    assert unfinished.cases == [] and unfinished.errors[0].field == "expect.root_cause"

    # A person fills in what the right answer is (the scenario's known cause), then the case runs.
    case_file.write_text(text.replace("  root_cause: []", '  root_cause: ["port 80|:80", "node|old-app"]'))
    out = tmp_path / "r.json"
    assert (
        run_cli([str(case_file)], ["firstline/runbook"], json_path=out, min_pass=1.0, settings=settings) == 0
    )
    run = yaml.safe_load(out.read_text())["results"][0]["runs"][0]
    assert run["unrecorded"] == [] and run["passed"]


def _events(outputs: list[str]) -> list[Event]:
    evs = [Event.of(UserMessage(text="db password rotated?"), "t1")]
    for i, out in enumerate(outputs):
        evs.append(
            Event.of(ToolCall(call_id=f"c{i}", tool="log_tail", args={"source": f"/var/log/a{i}.log"}), "t1")
        )
        evs.append(
            Event.of(
                ToolResultEvent(
                    call_id=f"c{i}",
                    tool="log_tail",
                    ok=True,
                    exit_code=0,
                    output=out,
                    command=f"tail -n 50 /var/log/a{i}.log",
                ),
                "t1",
            )
        )
    evs.append(
        Event.of(ToolCall(call_id="w", tool="restart_service", args={"service": "app"}, risk="write"), "t1")
    )
    evs.append(
        Event.of(
            ToolResultEvent(
                call_id="w", tool="restart_service", ok=False, error="restart_service was denied by user"
            ),
            "t1",
        )
    )
    evs.append(Event.of(ToolCall(call_id="x", tool="dns_lookup", args={"name": "db.internal"}), "t1"))
    evs.append(
        Event.of(
            ToolResultEvent(call_id="x", tool="dns_lookup", ok=False, error="dns_lookup timed out"), "t1"
        )
    )
    evs.append(Event.of(TurnFinished(), "t1"))
    return evs


def test_outputs_round_trip_exactly_and_secrets_are_masked_again():
    tricky = [
        "  indented first line\nsecond\n",
        "no trailing newline",
        "trailing blank lines\n\n\n",
        "\ttabs\tand  double  spaces  \n",
        "unicode ● × 日本\n",
        "key: value\n- item\n# not a comment\n",
        "'quoted' \"text\" and a | pipe >\n",
        "DATABASE_URL=postgres://app:s3cr3t@db:5432/app\n",
    ]
    text = session_to_case(_events(tricky), {"id": "s-1", "title": "Tricky outputs!", "target": "local"})
    doc = yaml.safe_load(text)
    got = [t["output"] for t in doc["tools"]]
    assert got[:-1] == tricky[:-1]
    assert "s3cr3t" not in text and "postgres://app:[REDACTED]@db:5432/app" in got[-1]
    assert [t["tool"] for t in doc["tools"]] == ["log_tail"] * len(tricky)
    assert "restart_service(service: app): write tools are never replayed" in text
    assert "dns_lookup(name: db.internal): no output: dns_lookup timed out" in text
    assert doc["id"] == "tricky-outputs" and doc["expect"]["tools_called"] == [
        "log_tail",
        "restart_service",
        "dns_lookup",
    ]


def test_record_session_reads_the_store(tmp_path):
    from assistant.store import append_many, create_session, open_store, writing

    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'fl.db'}")
    engine = open_store(settings.db_url)
    with writing(engine) as db:
        sid = create_session(db, target="local", model="firstline/runbook", title="disk alert on app-01").id
    events = _events(["Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 20G 20G 0 100% /\n"])
    append_many(engine, session_id=sid, events=events)
    engine.dispose()
    text = record_session(settings, sid)
    assert f"from session {sid}" in text and "100% /" in text
    assert yaml.safe_load(text)["title"] == "disk alert on app-01"
    with pytest.raises(LookupError):
        record_session(settings, "s-does-not-exist")
