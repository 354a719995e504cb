"""Local models that write their tool call as JSON in the reply text (no native tool calling).

Through litellm against the stand-in OpenAI-compatible server, exactly as a small model served by Ollama or
llama.cpp answers: the loop must turn the JSON into a real, validated tool call, say so on the event, and
leave prose that merely contains JSON alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from assistant.config import Settings
from assistant.context import TurnContext
from assistant.events import EventType
from assistant.loop import run_turn
from assistant.text_calls import calls_in_text
from tools.targets import open_target

TOOLS = {"service_status", "port_owner", "log_tail"}


@pytest.mark.parametrize(
    "text, name, args",
    [
        ('```json\n{"name": "port_owner", "arguments": {"port": 80}}\n```', "port_owner", '{"port": 80}'),
        (
            '<tool_call>{"name": "service_status", "arguments": {"service": "nginx"}}</tool_call>',
            "service_status",
            '{"service": "nginx"}',
        ),
        (
            'I will check it. {"tool": "log_tail", "args": {"source": "unit:nginx"}}',
            "log_tail",
            '{"source": "unit:nginx"}',
        ),
        (
            '{"function": {"name": "port_owner", "arguments": "{\\"port\\": 443}"}}',
            "port_owner",
            '{"port": 443}',
        ),
        ('[{"name": "port_owner", "parameters": {"port": 80}}]', "port_owner", '{"port": 80}'),
    ],
)
def test_json_calls_in_text_are_found(text, name, args):
    found = calls_in_text(text, TOOLS)
    assert [(c.name, c.arguments, c.from_text) for c in found] == [(name, args, True)]


@pytest.mark.parametrize(
    "text",
    [
        'The config has {"listen": 80} and nginx is fine.',  # JSON that names no tool
        '{"name": "rm_rf", "arguments": {}}',  # a tool that is not offered
        "No fault found; nginx is active (running).",
        "{" * 5000,  # unbalanced braces: bounded work, nothing found
    ],
)
def test_prose_and_unknown_tools_stay_prose(text):
    assert calls_in_text(text, TOOLS) == []


async def test_a_text_tool_call_runs_through_the_loop(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    script = [
        {"text": '```json\n{"name": "service_status", "arguments": {"service": "nginx"}}\n```'},
        {"text": "nginx failed to bind port 80."},
    ]
    with FakeOpenAI(script, delay_s=0) as fake:
        settings = Settings(home=tmp_path, api_base=fake.api_base, model_retries=0)
        target = open_target("sandbox:nginx-port-conflict", settings.targets)
        ctx = TurnContext(
            settings=settings, target=target, model="openai/local-small", session_id="s", turn_id="t"
        )
        events = [e async for e in run_turn(ctx, [], "nginx on web-prod-01 returns 503")]
    calls = [e.data for e in events if e.type is EventType.TOOL_CALL]
    results = [e.data for e in events if e.type is EventType.TOOL_RESULT]
    assert [(c.tool, c.args, c.from_text) for c in calls] == [("service_status", {"service": "nginx"}, True)]
    assert (
        results[0].exit_code == 3 and "bind()" in results[0].output
    )  # really ran: systemctl status of a failed unit
    assert [e.data.text for e in events if e.type is EventType.MESSAGE] == ["nginx failed to bind port 80."]
    # the model was then sent the call as a real tool call and its result, like any native call
    second = fake.requests[-1]["messages"]
    assert any(m.get("role") == "tool" and "bind()" in m.get("content", "") for m in second)


async def test_invalid_arguments_in_a_text_call_are_refused_not_run(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    script = [
        {"text": '{"name": "service_status", "arguments": {"service": "nginx; reboot"}}'},
        {"text": "I could not check the service."},
    ]
    with FakeOpenAI(script, delay_s=0) as fake:
        settings = Settings(home=tmp_path, api_base=fake.api_base, model_retries=0)
        target = open_target("sandbox:nginx-port-conflict", settings.targets)
        ctx = TurnContext(
            settings=settings, target=target, model="openai/local-small", session_id="s", turn_id="t"
        )
        events = [e async for e in run_turn(ctx, [], "check nginx")]
    result = next(e.data for e in events if e.type is EventType.TOOL_RESULT)
    assert not result.ok and result.status == "refused" and "service" in (result.error or "")
