"""The model gateway: hosted-model calls run in a child process, with the same stream as in-process.

A real child process, a real OpenAI-compatible provider on 127.0.0.1 (fake_openai), real pipes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from assistant import llm
from assistant.gateway import ModelGateway
from assistant.llm import Completion, ModelError

pytestmark = pytest.mark.slow  # the model gateway child process, started per test (12-26 s each)

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [
    {"role": "system", "content": "You are Firstline."},
    {"role": "user", "content": "nginx returns 503"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "service_status",
            "description": "status",
            "parameters": {
                "type": "object",
                "properties": {"service": {"type": "string"}},
                "required": ["service"],
            },
        },
    }
]
SCRIPT = [
    {"text": "Checking nginx first, then its log.", "calls": [("service_status", {"service": "nginx"})]}
]


async def collect(stream) -> tuple[list[str], Completion]:
    deltas, done = [], None
    async for item in stream:
        if isinstance(item, Completion):
            done = item
        else:
            deltas.append(item)
    assert done is not None
    return deltas, done


@pytest.fixture
async def gateway():
    gw = ModelGateway()
    yield gw
    await gw.aclose()


def call(fake: FakeOpenAI | None, **over) -> dict:
    return {
        "model": "openai/fake-sre",
        "messages": MESSAGES,
        "tools": TOOLS,
        "api_base": fake.api_base if fake else None,
        "timeout_s": 10.0,
        "retries": 0,
        **over,
    }


async def test_the_child_streams_what_the_loop_would_get_in_process(gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with FakeOpenAI(SCRIPT, delay_s=0.0) as fake:
        here_deltas, here = await collect(llm.stream_completion(**call(fake)))
        there_deltas, there = await collect(gateway.stream(**call(fake)))
    assert "".join(there_deltas) == "".join(here_deltas) == there.text == here.text
    assert [(c.name, json.loads(c.arguments)) for c in there.tool_calls] == [
        ("service_status", {"service": "nginx"})
    ]
    assert (
        (there.prompt_tokens, there.completion_tokens)
        == (here.prompt_tokens, here.completion_tokens)
        != (0, 0)
    )
    assert len(fake.requests) == 2 and fake.requests[1]["messages"] == MESSAGES


async def test_provider_errors_come_back_as_the_same_model_error(gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(ModelError) as there:
        await collect(gateway.stream(**call(None, api_base=closed)))
    with pytest.raises(ModelError) as here:
        await collect(llm.stream_completion(**call(None, api_base=closed)))
    assert there.value.kind == here.value.kind and there.value.kind in ("connection", "outage")
    assert str(there.value) == str(here.value) and there.value.hint == here.value.hint


async def test_a_dead_child_fails_its_calls_and_the_next_call_starts_a_new_one(gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    slow = [{"text": " ".join(["word"] * 200)}]
    with FakeOpenAI(slow, delay_s=0.05) as fake:
        stream = gateway.stream(**call(fake, tools=None))
        assert isinstance(await anext(stream), str)  # mid-stream
        first_pid = gateway._proc.pid
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(ModelError, match="gateway process stopped"):
            async for _ in stream:
                pass
        with FakeOpenAI(SCRIPT, delay_s=0.0) as quick:
            _, done = await collect(gateway.stream(**call(quick)))
    assert done.tool_calls and gateway._proc.pid != first_pid


async def test_a_stream_closed_early_cancels_its_call_and_the_child_keeps_serving(gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with FakeOpenAI([{"text": " ".join(["word"] * 200)}], delay_s=0.05) as fake:
        stream = gateway.stream(**call(fake, tools=None))
        await anext(stream)
        await stream.aclose()  # the turn was cancelled
        assert gateway._calls == {}
        fake.script, fake.delay_s = SCRIPT, 0.0
        deltas, done = await collect(gateway.stream(**call(fake)))
    assert "".join(deltas) == done.text == SCRIPT[0]["text"]


async def test_the_window_comes_from_the_child(gateway):
    window = await gateway.context_window("openai/gpt-4o-mini")
    import litellm

    assert window == litellm.get_model_info("openai/gpt-4o-mini")["max_input_tokens"]
    assert await gateway.context_window("openai/no-such-model-xyz") == 8192


def test_a_server_turn_on_a_hosted_model_never_loads_litellm_in_the_server(tmp_path: Path):
    """The server process hands the call to the gateway child and learns the window from it."""
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from fake_openai import FakeOpenAI, model_env

        async def main():
            with FakeOpenAI(delay_s=0.0) as fake:
                os.environ.update(model_env(fake))
                from assistant import store
                from assistant.config import Settings
                from web.runtime import Runtime

                runtime = Runtime(Settings(home={str(tmp_path)!r}))
                await runtime.startup()
                engine = await runtime.aengine()
                with store.writing(engine) as db:
                    sid = store.create_session(db, target="sandbox:nginx-port-conflict", model="openai/fake-sre").id
                supervisor = await runtime.supervisor()
                turn = await supervisor.start(sid, "nginx on web-prod-01 returns 503")
                status = await supervisor.tasks[turn.id]
                await runtime.shutdown()
                print(status, len(fake.requests), "litellm" in sys.modules)

        asyncio.run(main())
    """)
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True")
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    status, requests, litellm_loaded = out.stdout.split()[-3:]
    assert status == "completed" and int(requests) >= 3 and litellm_loaded == "False", out.stdout
