"""The session format with hosts: a multi-host session records `host` on each call, the case loads, and its
replay answers each host with that host's output. Cases without hosts load and replay as before."""

from __future__ import annotations

import yaml

from assistant.config import Settings
from assistant.context import TurnContext, deny_all
from assistant.events import EventType
from assistant.loop import run_turn, user_message_event
from evals.format import parse_case
from evals.record import session_to_case
from evals.suite import replay_target, run_case
from tools.runner import run_tool
from tools.targets import open_target

FLEET = "sandbox:web-fleet-port-conflict"
QUESTION = "Which web hosts return 503 on http://localhost/healthz since the 03:00 deploy? nginx serves it."


async def _fleet_session(tmp_path) -> list:
    settings = Settings(home=tmp_path)
    ctx = TurnContext(
        settings=settings,
        target=open_target(FLEET, settings.targets),
        model="firstline/runbook",
        session_id="s",
        turn_id="t1",
        approver=deny_all,
    )
    return [user_message_event(QUESTION, "t1")] + [ev async for ev in run_turn(ctx, [], QUESTION)]


async def test_a_recorded_fleet_session_keeps_hosts_and_replays_per_host(tmp_path):
    events = await _fleet_session(tmp_path)
    text = session_to_case(
        events, {"id": "s", "title": "fleet 503", "target": FLEET, "model": "firstline/runbook"}
    )
    doc = yaml.safe_load(text)
    assert doc["target"]["hosts"] == ["web-01", "web-02", "web-03"]
    checks = [t for t in doc["tools"] if t["tool"] == "http_check"]
    assert sorted(t["host"] for t in checks) == ["web-01", "web-02", "web-03"]
    assert all("host" not in t["args"] for t in doc["tools"])
    doc["expect"]["root_cause"] = ["web-02", "2314|old-app"]
    case, errors = parse_case(doc)
    assert not errors, errors
    target = replay_target(case)
    web2 = await run_tool(target, "http_check", {"url": "http://localhost/healthz", "host": "web-02"})
    web1 = await run_tool(target, "http_check", {"url": "http://localhost/healthz", "host": "web-01"})
    assert "503" in web2.output and "200 OK" in web1.output and web2.host == "web-02"
    result = await run_case(case, "firstline/runbook", Settings(home=tmp_path))
    assert result.passed and not result.unrecorded, (result.answer, result.unrecorded)
    answer = next(e.data.text for e in events if e.type is EventType.MESSAGE)
    assert result.answer == answer  # the replay is the same investigation


def test_a_case_without_hosts_is_unchanged(tmp_path):
    doc = {
        "format": "firstline-session/1",
        "id": "one-host",
        "turns": ["is nginx up?"],
        "tools": [
            {"tool": "service_status", "args": {"service": "nginx"}, "output": "Active: active (running)\\n"}
        ],
        "expect": {"no_fault": True},
    }
    case, errors = parse_case(doc)
    assert not errors and case.target.hosts == [] and case.tools[0].host is None
    assert type(replay_target(case)).__name__ == "ReplayTarget"
    bad, errors = parse_case({**doc, "tools": [{**doc["tools"][0], "host": ""}]})
    assert bad is None and errors[0].field == "tools[0].host"
