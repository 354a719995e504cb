"""The agent loop, driven through the Model seam.

Nothing here patches Firstline: the model is `ScriptedModel` (tests/scripted_model.py) or litellm
talking to the stand-in OpenAI-compatible server (tests/fake_openai.py) — a paid API cannot exist
here — and the tools run through the real runner on targets built from the public Target interface.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import litellm
import pytest
from fake_openai import FakeOpenAI
from litellm import CustomLLM, ModelResponse
from scripted_model import ScriptedModel, calls

from assistant.config import Policy, Settings
from assistant.context import TurnContext
from assistant.events import ApprovalDecided, EventType
from assistant.loop import run_turn
from assistant.tokens import count_tokens
from tools.base import RawOutput
from tools.targets.base import Target


def tool_call(name: str, arguments: str):
    return calls((name, arguments))


def tool_calls(*pairs: tuple[str, str]):
    return calls(*pairs)


def litellm_tool_call(name: str, arguments: str) -> ModelResponse:
    """The same step as litellm's own response object, for the custom-provider test below."""
    return ModelResponse(
        choices=[
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "m1", "type": "function", "function": {"name": name, "arguments": arguments}}
                    ],
                },
            }
        ]
    )


class CountingTarget(Target):
    """A host-like target that records every call it really executes."""

    kind = "host"

    def __init__(self, output: str = "ok\n", delay: float = 0.0) -> None:
        super().__init__("test-host")
        self.output, self.delay = output, delay
        self.runs: list[tuple[str, dict]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def supports(self, tool_name: str) -> bool:
        return True

    async def run(self, tool, args) -> RawOutput:
        self.runs.append((tool.name, args.model_dump()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return RawOutput(exit_code=0, output=self.output, command=f"{tool.name} {args.model_dump_json()}")


def make_ctx(
    tmp_path: Path, script: list, target: Target | None = None, approver=None, **settings
) -> TurnContext:
    s = Settings(home=tmp_path, model_retries=0, **settings)
    kw = {"approver": approver} if approver else {}
    return TurnContext(
        settings=s,
        target=target or CountingTarget(),
        model="scripted/test",
        session_id="s1",
        turn_id="t1",
        llm=ScriptedModel(script),
        **kw,
    )


async def collect(ctx: TurnContext, text: str = "nginx returns 503", history=None) -> list:
    return [e async for e in run_turn(ctx, history or [], text)]


def of(events, etype: EventType) -> list:
    return [e.data for e in events if e.type is etype]


async def test_bad_tool_requests_come_back_as_error_results(tmp_path):
    target = CountingTarget()
    ctx = make_ctx(
        tmp_path,
        [
            tool_call("no_such_tool", "{}"),
            tool_call("service_status", "{not json"),
            tool_call("service_status", '{"service": "nginx; rm -rf /"}'),
            "Done.",
        ],
        target,
    )
    events = await collect(ctx)
    results = of(events, EventType.TOOL_RESULT)
    assert [r.ok for r in results] == [False, False, False]
    assert "unknown or unavailable tool 'no_such_tool'" in results[0].error
    assert "malformed argument JSON" in results[1].error
    assert "not a valid service name" in results[2].error
    assert target.runs == []  # nothing was executed for any of them
    assert of(events, EventType.MESSAGE)[0].text == "Done."
    assert of(events, EventType.TURN_FINISHED)[0].status == "completed"


def provider_ctx(tmp_path: Path, fake: FakeOpenAI) -> TurnContext:
    """litellm in-process (the CLI's and evals' path) against the stand-in provider."""
    settings = Settings(home=tmp_path, model_retries=0, api_base=fake.api_base)
    return TurnContext(
        settings=settings, target=CountingTarget(), model="openai/fake-sre", session_id="s1", turn_id="t1"
    )


async def test_provider_error_ends_turn_and_session_stays_usable(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with FakeOpenAI(
        [{"status": 429, "text": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}]
    ) as fake:
        first = await collect(provider_ctx(tmp_path, fake))
    assert [e.type for e in first][-2:] == [EventType.ERROR, EventType.TURN_FINISHED]
    error = of(first, EventType.ERROR)[0]
    assert error.kind == "rate_limit" and error.hint
    assert of(first, EventType.TURN_FINISHED)[0].status == "error"

    with FakeOpenAI([{"text": "All healthy."}], delay_s=0) as fake:
        second = await collect(provider_ctx(tmp_path, fake), "and now?", history=first)
    assert of(second, EventType.MESSAGE)[0].text == "All healthy."


async def test_bad_key_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with FakeOpenAI(
        [
            {
                "status": 401,
                "text": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        ]
    ) as fake:
        events = await collect(provider_ctx(tmp_path, fake))
    error = of(events, EventType.ERROR)[0]
    assert error.kind == "auth" and "API_KEY" in error.hint


async def test_endless_tool_calls_stop_at_step_budget(tmp_path):
    script = [tool_call("port_owner", json.dumps({"port": p})) for p in range(1, 40)]
    events = await collect(make_ctx(tmp_path, [*script, "Summary from the evidence."], max_steps=5))
    finished = of(events, EventType.TURN_FINISHED)[0]
    assert finished.status == "budget" and finished.steps == 5
    answer = of(events, EventType.MESSAGE)[0].text
    assert "Stopped early" in answer and "limit" in answer


async def test_repeated_identical_calls_are_cached_and_stopped(tmp_path):
    target = CountingTarget()
    script = [tool_call("service_status", '{"service": "nginx"}')] * 30
    events = await collect(make_ctx(tmp_path, script, target))
    assert target.runs == [("service_status", {"service": "nginx"})]
    results = of(events, EventType.TOOL_RESULT)
    assert results[0].cached is False and all(r.cached for r in results[1:])
    assert "no progress" in of(events, EventType.MESSAGE)[0].text
    assert of(events, EventType.TURN_FINISHED)[0].status == "budget"


async def test_read_tools_of_one_step_run_concurrently(tmp_path):
    target = CountingTarget(delay=0.2)
    step = tool_calls(("port_owner", '{"port": 80}'), ("process_list", "{}"), ("host_resources", "{}"))
    events = await collect(make_ctx(tmp_path, [step, "done"], target))
    assert target.max_in_flight == 3
    assert len(of(events, EventType.TOOL_RESULT)) == 3


class CapturingModel(CustomLLM):
    """A stand-in provider that records the prompt it receives (what reaches the model)."""

    def __init__(self, replies: list[ModelResponse | str]) -> None:
        super().__init__()
        self.replies, self.prompts = replies, []

    async def acompletion(self, *args, **kwargs):
        self.prompts.append(kwargs["messages"])
        reply = self.replies[min(len(self.prompts) - 1, len(self.replies) - 1)]
        return litellm.completion(model="openai/x", messages=kwargs["messages"], mock_response=reply)

    async def astreaming(self, *args, **kwargs):
        self.prompts.append(kwargs["messages"])
        reply = self.replies[min(len(self.prompts) - 1, len(self.replies) - 1)]
        if isinstance(reply, str):
            yield {
                "text": reply,
                "is_finished": True,
                "finish_reason": "stop",
                "usage": None,
                "index": 0,
                "tool_use": None,
            }
            return
        call = reply.choices[0].message.tool_calls[0]
        yield {
            "text": "",
            "is_finished": True,
            "finish_reason": "tool_calls",
            "usage": None,
            "index": 0,
            "tool_use": {
                "id": call.id,
                "type": "function",
                "index": 0,
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            },
        }


async def test_five_megabyte_result_reaches_model_within_budget(tmp_path):
    huge = "".join(
        f"2026-11-23T03:{i % 60:02d}:00Z app[812]: request id={i} status=200 path=/api/items\n"
        for i in range(70_000)
    )
    assert len(huge) > 5_000_000
    target = CountingTarget(output=huge)
    model = CapturingModel([litellm_tool_call("log_tail", '{"source": "/var/log/app.log"}'), "done"])
    litellm.custom_provider_map = [{"provider": "capture", "custom_handler": model}]
    try:
        ctx = TurnContext(
            settings=Settings(home=tmp_path, tool_result_tokens=1500, model_retries=0),
            target=target,
            model="capture/x",
            session_id="s",
            turn_id="t",
        )
        events = await collect(ctx)
    finally:
        litellm.custom_provider_map = []
    assert of(events, EventType.MESSAGE)[0].text == "done"
    tool_msgs = [m for m in model.prompts[-1] if m["role"] == "tool"]
    assert len(tool_msgs) == 1
    assert count_tokens(tool_msgs[0]["content"]) <= 1500 + 60  # budget + the command header line
    assert "request id=0 " in tool_msgs[0]["content"] or "request id=1 " in tool_msgs[0]["content"]
    assert "request id=69999" in tool_msgs[0]["content"]  # the tail is kept too


async def test_write_tool_waits_for_approval_and_denial_never_runs(tmp_path):
    target = CountingTarget()
    asked = []

    async def deny(request):
        asked.append(request)
        return ApprovalDecided(
            approval_id=request.approval_id, decision="deny", by="alice", comment="not now"
        )

    ctx = make_ctx(
        tmp_path,
        [tool_call("restart_service", '{"service": "nginx"}'), "ok, not restarting"],
        target,
        approver=deny,
    )
    events = await collect(ctx)
    assert target.runs == []
    assert asked and asked[0].command == "systemctl restart nginx"
    types = [e.type for e in events]
    assert types.index(EventType.APPROVAL_REQUIRED) < types.index(EventType.APPROVAL_DECIDED)
    assert "denied by alice: not now" in of(events, EventType.TOOL_RESULT)[0].error


async def test_approved_write_runs_once(tmp_path):
    target = CountingTarget()

    async def approve(request):
        return ApprovalDecided(approval_id=request.approval_id, decision="approve", by="bob")

    ctx = make_ctx(
        tmp_path,
        [tool_call("restart_service", '{"service": "nginx"}'), "restarted"],
        target,
        approver=approve,
    )
    await collect(ctx)
    assert target.runs == [("restart_service", {"service": "nginx"})]


async def test_read_only_policy_hides_write_tools(tmp_path):
    target = CountingTarget()
    ctx = make_ctx(
        tmp_path, [tool_call("kill_process", '{"pid": 4242}'), "fine"], target, policy=Policy(read_only=True)
    )
    assert all(t.risk.value == "read" for t in ctx.tools)
    events = await collect(ctx)
    assert target.runs == [] and not of(events, EventType.APPROVAL_REQUIRED)
    assert "unknown or unavailable tool 'kill_process'" in of(events, EventType.TOOL_RESULT)[0].error


async def test_policy_argument_limits_refuse_before_asking(tmp_path):
    asked = []

    async def approve(request):
        asked.append(request)
        return ApprovalDecided(approval_id=request.approval_id, decision="approve")

    ctx = make_ctx(
        tmp_path,
        [tool_call("restart_service", '{"service": "postgresql"}'), "ok"],
        approver=approve,
        policy=Policy(arg_limits={"restart_service": {"service": ["nginx"]}}),
    )
    events = await collect(ctx)
    assert asked == []
    assert "policy forbids restart_service" in of(events, EventType.TOOL_RESULT)[0].error


async def test_limits_apply_to_defaults_and_bad_writes_are_refused_before_asking(tmp_path):
    """Issue 15 item 9: a `namespace: [staging]` limit was bypassed by leaving `namespace` out (default
    `default`), and people were asked to approve pid 1, `--force` and `nginx;reboot`."""
    asked = []

    async def approve(request):
        asked.append(request)
        return ApprovalDecided(approval_id=request.approval_id, decision="approve")

    script = [
        tool_calls(
            ("rollout_restart", '{"deployment": "web"}'),
            ("kill_process", '{"pid": 1}'),
            ("restart_service", '{"service": "nginx;reboot"}'),
            ("restart_service", '{"service": "--force"}'),
        ),
        "ok",
    ]
    target = CountingTarget()
    ctx = make_ctx(
        tmp_path,
        script,
        target=target,
        approver=approve,
        policy=Policy(arg_limits={"rollout_restart": {"namespace": ["staging"]}}),
    )
    events = await collect(ctx)
    errors = [r.error for r in of(events, EventType.TOOL_RESULT)]
    assert asked == [] and target.runs == [] and not of(events, EventType.APPROVAL_REQUIRED)
    assert "policy forbids rollout_restart with namespace='default'" in errors[0]
    assert all("not sent for approval" in e for e in errors[1:]), errors


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) to cut the network")
def test_tiktoken_counts_tokens_with_no_network(tmp_path):
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('1.1.1.1', 443), timeout=2); print('NETWORK')\n"
        "except OSError: pass\n"
        "from assistant.tokens import count_tokens\nprint(count_tokens('nginx: bind() failed (98)'))\n"
    )
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=Path(__file__).parent.parent,
    )
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("unshare is not permitted here")
    assert proc.returncode == 0, proc.stderr
    assert "NETWORK" not in proc.stdout
    assert int(proc.stdout.strip()) > 5
