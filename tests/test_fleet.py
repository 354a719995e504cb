"""Targets of several hosts (tools/targets/fleet.py) with the multi-host sandbox scenario: the `host`
argument, the prompt, concurrent fan-out in one step, and the offline model's diagnosis across hosts."""

from __future__ import annotations

from assistant.config import Settings
from assistant.context import TurnContext, deny_all
from assistant.events import EventType
from assistant.loop import run_turn, system_prompt
from tools.runner import run_tool
from tools.targets import open_target

FLEET = "sandbox:web-fleet-port-conflict"
QUESTION = "Which web hosts return 503 on http://localhost/healthz since the 03:00 deploy? nginx serves it."


def _ctx(tmp_path) -> TurnContext:
    settings = Settings(home=tmp_path)
    return TurnContext(
        settings=settings,
        target=open_target(FLEET, settings.targets),
        model="firstline/runbook",
        session_id="s",
        turn_id="t",
        approver=deny_all,
    )


async def test_host_tools_name_a_member_and_only_a_member(tmp_path):
    target = open_target(FLEET)
    ok = await run_tool(target, "port_owner", {"port": 80, "host": "web-02"})
    assert ok.ok and ok.host == "web-02" and 'users:(("node",pid=2314' in ok.output
    other = await run_tool(target, "port_owner", {"port": 80, "host": "web-01"})
    assert 'users:(("nginx",pid=880' in other.output
    missing = await run_tool(target, "port_owner", {"port": 80})
    assert not missing.ok and "give `host`, one of web-01, web-02, web-03" in missing.error
    stranger = await run_tool(target, "port_owner", {"port": 80, "host": "db-01"})
    assert not stranger.ok and "'db-01' is not in sandbox:web-fleet-port-conflict" in stranger.error
    cert = await run_tool(target, "tls_certificate", {"host": "localhost", "from_host": "web-03"})
    assert cert.host == "web-03"  # the tool's own `host` stays its own


def test_the_model_sees_the_members_in_the_prompt_and_the_schemas(tmp_path):
    ctx = _ctx(tmp_path)
    prompt = system_prompt(ctx)
    assert "Hosts: web-01, web-02, web-03" in prompt and "Every host tool takes `host`" in prompt
    schema = ctx.tool("service_status").function_schema()["function"]["parameters"]
    assert (
        schema["properties"]["host"]["enum"] == ["web-01", "web-02", "web-03"]
        and "host" in schema["required"]
    )
    assert (
        "from_host" in ctx.tool("tls_certificate").function_schema()["function"]["parameters"]["properties"]
    )


async def test_the_offline_model_checks_every_host_at_once_then_digs_into_the_broken_one(tmp_path):
    events = [ev async for ev in run_turn(_ctx(tmp_path), [], QUESTION)]
    calls = [ev.data for ev in events if ev.type is EventType.TOOL_CALL]
    results = {ev.data.call_id: ev.data for ev in events if ev.type is EventType.TOOL_RESULT}
    first_step = [c for c in calls if c.tool == "http_check"]
    assert sorted(c.args["host"] for c in first_step) == ["web-01", "web-02", "web-03"]
    order = [ev.type for ev in events]
    first_result = order.index(EventType.TOOL_RESULT)
    assert order[:first_result].count(EventType.TOOL_CALL) >= 3  # asked together, before any came back
    later = calls[order[:first_result].count(EventType.TOOL_CALL) :]
    assert later and {c.args["host"] for c in later} == {"web-02"}  # only the broken host is followed up
    assert all(results[c.call_id].host == c.args["host"] for c in calls)
    answer = next(ev.data.text for ev in events if ev.type is EventType.MESSAGE)
    assert "Hosts with a problem: web-02" in answer and "pid 2314" in answer
    assert "web-01" in answer.split("### Fine:")[1] and "web-03" in answer.split("### Fine:")[1]
    assert 'kill_process(pid=2314, host="web-02")' in answer
