"""The conversation's structured facts and its rendered text agree, for every shape the templates render;
providers never receive the facts; the offline model reads the facts, not the text.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from assistant import transcript
from assistant.history import tool_result_message
from assistant.prompting import render
from assistant.runbook.conversation import parse
from tools.base import ToolResult

OUTPUTS = [
    "",
    "Active: failed (Result: exit-code)\nline two",
    "ERROR: looks like a header but is output",
    "# finding lookalike at the end\n",
    "x" * 50,
]
SHAPES = [  # (status, exit_code, error)
    ("ok", 0, None),
    ("ok", 3, None),
    ("error", 1, "exit status 1"),
    ("error", None, "no recorded output for x"),
    ("refused", None, "write tools are not executed in replay"),
    ("timeout", None, "timed out after 10s"),
    ("unsupported", None, "tool is not available on target"),
    ("no_data", 0, None),
]


def _result(
    status: str, exit_code: int | None, error: str | None, output: str, truncated: bool
) -> ToolResult:
    return ToolResult(
        tool="log_tail",
        ok=status == "ok",
        status=status,
        exit_code=exit_code,
        output=output,
        command="tail -n 50 /var/log/app.log",
        started_at=datetime.now(UTC),
        duration_ms=1.0,
        truncated=truncated,
        error=error,
    )


@pytest.mark.parametrize(
    "shape,output,truncated,cached", list(itertools.product(SHAPES, OUTPUTS, [False, True], [False, True]))
)
def test_tool_text_reads_back_as_the_facts_it_was_rendered_from(shape, output, truncated, cached):
    status, exit_code, error = shape
    if status == "ok" and error:
        pytest.skip("not a shape the runner produces")
    msg = tool_result_message("c1", _result(status, exit_code, error, output, truncated), [], 2000, cached)
    facts = transcript.read_tool(msg, msg["content"])
    assert (
        facts.command,
        facts.output,
        facts.exit_code,
        facts.error,
        facts.status,
        facts.truncated,
        facts.cached,
    ) == ("tail -n 50 /var/log/app.log", output, exit_code, error, status, truncated, cached)
    from_text = transcript.parse_tool_text(msg["content"])
    assert (from_text.command, from_text.status, from_text.truncated, from_text.cached) == (
        facts.command,
        facts.status,
        facts.truncated,
        facts.cached,
    )
    if status in ("ok", "error"):  # other statuses are rendered without the exit code: only the facts keep it
        assert from_text.exit_code == facts.exit_code
    if output.startswith("ERROR: ") or output.rstrip().endswith("end"):
        return  # the text alone is ambiguous here (output that looks like the frame): only the facts are exact
    assert from_text.output == output.rstrip("\n") and from_text.error == (
        error if error or status == "ok" or exit_code is not None else from_text.error
    )


def test_output_that_looks_like_the_frame_is_exact_only_in_the_facts():
    msg = tool_result_message(
        "c1", _result("ok", 0, None, "ERROR: from the app\n# finding x: not ours", False), [], 2000
    )
    assert transcript.read_tool(msg, msg["content"]).output == "ERROR: from the app\n# finding x: not ours"
    assert transcript.parse_tool_text(msg["content"]).output != "ERROR: from the app\n# finding x: not ours"


@pytest.mark.parametrize(
    "target",
    [
        {"name": "web-prod-01", "kind": "host"},
        {
            "name": "sandbox:disk-full",
            "kind": "sandbox",
            "scenario": "disk-full",
            "environment": "host",
            "hosts": ["ingest-01"],
            "namespaces": [],
        },
        {
            "name": "kubernetes:prod",
            "kind": "kubernetes",
            "context": "prod",
            "namespaces": ["shop", "payments"],
        },
    ],
)
def test_system_text_reads_back_as_the_target_it_was_rendered_from(target):
    values = {
        "target": target,
        "now": "2026-03-03 10:00",
        "write_tools": ["restart_service"],
        "read_only": False,
    }
    # every other switch the template knows (fleet, ...) off: the target block is what is read back
    content = render("system.md.j2", **({name: False for name in _template_vars()} | values))
    msg = transcript.system_message(content, target)
    facts, from_text = transcript.read_system(msg, content), transcript.parse_system_text(content)
    assert facts.name == from_text.name == target["name"] and facts.kind == from_text.kind == target["kind"]
    for key, value in target.items():
        if key in ("name", "kind") or not value:
            continue
        assert from_text.fields[key] == value and facts.fields[key] == value


def _template_vars() -> set[str]:
    from jinja2 import meta

    from assistant.prompting import environment

    env = environment()
    return meta.find_undeclared_variables(env.parse(env.loader.get_source(env, "system.md.j2")[0]))


def test_providers_never_receive_the_facts_and_token_counts_ignore_them():
    from assistant.window import message_tokens

    msg = tool_result_message("c1", _result("ok", 0, None, "hello", False), [], 2000)
    plain = transcript.for_provider([msg])[0]
    assert transcript.FACTS in msg and transcript.FACTS not in plain and plain["content"] == msg["content"]
    assert message_tokens(msg) == message_tokens(plain)


def test_the_offline_model_reads_facts_not_text():
    """A tool message whose text says one thing and whose facts another: the runbook believes the facts."""
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "log_tail", "arguments": '{"source": "unit:a"}'},
        }
    ]
    facts = transcript.ToolFacts(command="journalctl -u a", output="FATAL: disk quota exceeded", exit_code=0)
    messages = [
        transcript.system_message(
            "You are Firstline.", {"name": "app-01", "kind": "host", "hosts": ["app-01"]}
        ),
        {"role": "user", "content": "a is down"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        transcript.tool_message("c1", "$ something else  (exit 0)\nall good", facts),
    ]
    conv = parse(messages, [])
    assert conv.target_name == "app-01" and conv.hosts == ["app-01"]
    assert conv.calls[0].output == "FATAL: disk quota exceeded" and conv.calls[0].command == "journalctl -u a"
