"""firstline/runbook through litellm exactly as the loop calls it: streamed tool calls, answers, determinism.

The scenario tests drive every shipped sandbox scenario with a minimal loop of their
own (litellm -> run_tool on the sandbox target -> tool messages in the loop's format).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from assistant.findings import analyze
from assistant.runbook import MODEL, register
from tools.catalog import TOOLS

ALL_TOOLS = [t.function_schema() for t in TOOLS.values()]
READ_TOOLS = [t.function_schema() for t in TOOLS.values() if t.risk.value == "read"]
HOST_SYSTEM = (
    "You are Firstline, an on-call troubleshooting assistant.\nTarget: local (local)\nHosts: web-prod-01"
)
K8S_SYSTEM = "You are Firstline.\nTarget: kubernetes:prod (kubernetes)\nNamespaces: shop, payments"

SYSTEMCTL_BIND = """\
× nginx.service - A high performance web server and a reverse proxy server
     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; vendor preset: enabled)
     Active: failed (Result: exit-code) since Sun 2025-11-23 03:12:03 UTC; 3min ago
    Process: 812 ExecStart=/usr/sbin/nginx -g daemon on; master_process on; (code=exited, status=1/FAILURE)

Nov 23 03:12:01 web-prod-01 nginx[812]: nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)
Nov 23 03:12:01 web-prod-01 nginx[812]: nginx: [emerg] bind() to [::]:80 failed (98: Address already in use)
Nov 23 03:12:03 web-prod-01 nginx[812]: nginx: [emerg] still could not bind()
Nov 23 03:12:03 web-prod-01 systemd[1]: nginx.service: Failed with result 'exit-code'."""
SS_OWNER = """\
State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
LISTEN 0      511          0.0.0.0:80        0.0.0.0:*     users:(("node",pid=2314,fd=19))

    PID USER                      STARTED CMD
   2314 deploy   Mon Nov 17 09:41:22 2025 node /opt/old-app/server.js"""
SYSTEMCTL_OK = """\
● nginx.service - A high performance web server and a reverse proxy server
     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; vendor preset: enabled)
     Active: active (running) since Sun 2025-11-23 03:12:03 UTC; 2h ago
   Main PID: 901 (nginx)

Nov 23 03:12:03 web-prod-01 systemd[1]: Started A high performance web server and a reverse proxy server."""
HTTP_OK = (
    "HTTP/1.1 200 OK\nServer: nginx/1.24.0\nContent-Type: text/html\n\n<html>shop</html>\ntime_total=0.004s"
)


@dataclass
class Reply:
    text: str
    calls: list[tuple[str, str, dict]] = field(default_factory=list)
    finish: str | None = None
    usage: dict = field(default_factory=dict)

    def named(self) -> list[tuple[str, dict]]:
        return [(n, a) for _, n, a in self.calls]


async def ask(messages: list[dict], tools: list[dict] | None = None, stream: bool = True) -> Reply:
    register()
    tools = ALL_TOOLS if tools is None else tools
    if not stream:
        resp = await litellm.acompletion(model=MODEL, messages=messages, tools=tools)
        msg = resp.choices[0].message
        calls = [(tc.id, tc.function.name, json.loads(tc.function.arguments)) for tc in msg.tool_calls or []]
        return Reply(msg.content or "", calls, resp.choices[0].finish_reason, dict(resp.usage))
    resp = await litellm.acompletion(
        model=MODEL, messages=messages, tools=tools, stream=True, stream_options={"include_usage": True}
    )
    reply = Reply("")
    async for chunk in resp:
        if getattr(chunk, "usage", None):
            reply.usage = dict(chunk.usage)
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reply.text += delta.content or ""
        for tc in delta.tool_calls or []:
            reply.calls.append((tc.id, tc.function.name, json.loads(tc.function.arguments)))
        reply.finish = chunk.choices[0].finish_reason or reply.finish
    return reply


def tool_message(
    call_id: str, command: str, output: str, exit_code: int | None = 0, error: str | None = None
) -> dict:
    """The loop's tool message: `$ command  (exit N)`, optional `ERROR:` line, output, finding lines."""
    status = "error" if error and exit_code is None else f"exit {exit_code}"
    body = (f"ERROR: {error}\n" if error else "") + output
    return {"role": "tool", "tool_call_id": call_id, "content": f"$ {command}  ({status})\n{body}"}


def assistant_calls(reply: Reply) -> dict:
    return {
        "role": "assistant",
        "content": reply.text or None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in reply.calls
        ],
    }


def evidence_quotes(answer: str) -> list[str]:
    """The quoted output lines of the Evidence section (`cmd` showed `line` / `line` — ...)."""
    section = answer.split("**Evidence**", 1)[-1].split("**Suggested fix**", 1)[0]
    out = []
    for ln in section.splitlines():
        if " showed " in ln:
            quoted = ln.split(" showed ", 1)[1].rsplit(" — ", 1)[0]
            out += [a or b for a, b in re.findall(r"`` (.+?) ``|`([^`]+)`", quoted)]
    return out


# ------------------------------------------------------------------ the nginx conversation, hop by hop


async def nginx_conversation() -> tuple[list[dict], Reply]:
    messages = [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "nginx on web-prod-01 returns 503"},
    ]
    first = await ask(messages)
    return messages, first


async def test_first_turn_asks_service_status_through_stream():
    _messages, first = await nginx_conversation()
    assert ("service_status", {"service": "nginx"}) in first.named()
    assert first.finish == "tool_calls"
    assert all(cid.startswith("call_") for cid, _, _ in first.calls)
    assert len({cid for cid, _, _ in first.calls}) == len(first.calls)
    assert first.usage["prompt_tokens"] > 50 and first.usage["completion_tokens"] > 0
    assert not any(TOOLS[n].risk.value == "write" for n, _ in first.named())


async def test_bind_error_then_port_owner_then_diagnosis():
    messages, first = await nginx_conversation()
    messages.append(assistant_calls(first))
    cid = next(i for i, n, _ in first.calls if n == "service_status")
    messages.append(tool_message(cid, "systemctl status nginx", SYSTEMCTL_BIND, 3))
    for other_id, name, _ in first.calls:
        if other_id != cid:
            messages.append(tool_message(other_id, name, HTTP_OK))
    second = await ask(messages)
    assert second.named() == [("port_owner", {"port": 80, "protocol": "tcp"})] or second.named() == [
        ("port_owner", {"port": 80})
    ]
    messages.append(assistant_calls(second))
    messages.append(tool_message(second.calls[0][0], "ss -ltnp 'sport = :80'", SS_OWNER))
    third = await ask(messages)
    assert third.calls == [] and third.finish == "stop"
    text = third.text
    assert text.startswith("**Root cause**")
    assert "port 80" in text and "2314" in text and "node /opt/old-app/server.js" in text
    assert "**Evidence**" in text and "**Suggested fix**" in text
    assert "kill_process(pid=2314)" in text and 'restart_service(service="nginx")' in text
    assert "approval" in text
    outputs = SYSTEMCTL_BIND + SS_OWNER
    quotes = evidence_quotes(text)
    assert quotes and all(q in outputs for q in quotes), quotes


async def test_non_streaming_gives_the_same_decision():
    messages = [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "nginx on web-prod-01 returns 503"},
    ]
    streamed = await ask(messages)
    plain = await ask(messages, stream=False)
    assert plain.calls == streamed.calls and plain.text == streamed.text
    assert plain.finish == "tool_calls" and plain.usage["prompt_tokens"] == streamed.usage["prompt_tokens"]


async def test_deterministic():
    messages = [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "nginx on web-prod-01 returns 503"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "service_status", "arguments": '{"service": "nginx"}'},
                }
            ],
        },
        tool_message("c1", "systemctl status nginx", SYSTEMCTL_BIND, 3),
    ]
    a, b = await ask(messages), await ask(messages)
    assert a == b


async def test_no_fault_says_so_plainly():
    messages = [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "is nginx on web-prod-01 ok? check http://127.0.0.1/"},
    ]
    first = await ask(messages)
    assert {n for n, _ in first.named()} == {"service_status", "http_check"}
    messages.append(assistant_calls(first))
    for cid, name, _ in first.calls:
        messages.append(tool_message(cid, name, SYSTEMCTL_OK if name == "service_status" else HTTP_OK))
    final = await ask(messages)
    assert final.calls == []
    assert "No fault found" in final.text
    assert "Active: active (running)" in final.text and "HTTP/1.1 200 OK" in final.text
    assert "What I could not see" in final.text


# ------------------------------------------------------------------ writes, errors, offered tools


async def _diagnosed() -> list[dict]:
    return [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "nginx on web-prod-01 is down"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "service_status", "arguments": '{"service": "nginx"}'},
                }
            ],
        },
        tool_message("c1", "systemctl status nginx", SYSTEMCTL_BIND, 3),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "port_owner", "arguments": '{"port": 80}'},
                }
            ],
        },
        tool_message("c2", "ss -ltnp 'sport = :80'", SS_OWNER),
        {"role": "assistant", "content": "**Root cause** — port 80 is held by node (pid 2314)."},
    ]


async def test_never_writes_unasked_but_fixes_when_told():
    messages = await _diagnosed()
    messages.append({"role": "user", "content": "thanks. what else could it be?"})
    unasked = await ask(messages)
    assert not any(TOOLS[n].risk.value == "write" for n, _ in unasked.named())

    messages[-1] = {"role": "user", "content": "ok, go ahead and fix it"}
    step1 = await ask(messages)
    assert step1.named() == [("kill_process", {"pid": 2314})]
    messages += [
        assistant_calls(step1),
        tool_message(step1.calls[0][0], "kill -TERM 2314", "# sent SIGTERM to 2314"),
    ]
    step2 = await ask(messages)
    assert step2.named() == [("restart_service", {"service": "nginx"})]
    messages += [assistant_calls(step2), tool_message(step2.calls[0][0], "systemctl restart nginx", "")]
    step3 = await ask(messages)
    assert {n for n, _ in step3.named()} == {"port_owner", "service_status"}  # verification, read-only
    messages.append(assistant_calls(step3))
    for cid, name, _ in step3.calls:
        out = (
            SYSTEMCTL_OK
            if name == "service_status"
            else SS_OWNER.replace('"node",pid=2314', '"nginx",pid=901')
        )
        messages.append(tool_message(cid, name, out))
    done = await ask(messages)
    assert done.calls == [] and "**Actions**" in done.text and "no remaining fault" in done.text


async def test_denied_write_is_not_retried():
    messages = await _diagnosed()
    messages.append({"role": "user", "content": "go ahead"})
    step1 = await ask(messages)
    messages += [
        assistant_calls(step1),
        tool_message(
            step1.calls[0][0], "kill_process", "", None, "kill_process was denied by alice. Do not retry it."
        ),
    ]
    after = await ask(messages)
    assert after.calls == [] and "did not succeed" in after.text and "denied" in after.text


async def test_read_only_session_explains_instead_of_writing():
    messages = await _diagnosed()
    messages.append({"role": "user", "content": "restart nginx"})
    reply = await ask(messages, tools=READ_TOOLS)
    assert not any(TOOLS[n].risk.value == "write" for n, _ in reply.named())
    assert "no matching write tool" in reply.text


async def test_error_results_are_not_repeated():
    messages = [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "nginx on web-prod-01 is down"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "service_status", "arguments": '{"service": "nginx"}'},
                }
            ],
        },
        tool_message("c1", "systemctl status nginx", SYSTEMCTL_BIND, 3),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "port_owner", "arguments": '{"port": 80}'},
                }
            ],
        },
        tool_message("c2", "port_owner", "", None, "port_owner is not available on target edge (replay)"),
    ]
    reply = await ask(messages)
    assert "port_owner" not in [n for n, _ in reply.named()]
    for _ in range(4):  # whatever it does next, it converges on an answer without the missing tool
        if not reply.calls:
            break
        messages.append(assistant_calls(reply))
        messages += [tool_message(cid, n, "-- No entries --") for cid, n, _ in reply.calls]
        reply = await ask(messages)
    assert reply.calls == [] and "port 80" in reply.text and "Address already in use" in reply.text


async def test_only_offered_tools_are_called():
    only = [t for t in ALL_TOOLS if t["function"]["name"] == "service_status"]
    messages = [
        {"role": "system", "content": HOST_SYSTEM},
        {"role": "user", "content": "nginx on web-prod-01 returns 503, https://shop.example.com/ is down"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "service_status", "arguments": '{"service": "nginx"}'},
                }
            ],
        },
        tool_message("c1", "systemctl status nginx", SYSTEMCTL_BIND, 3),
    ]
    reply = await ask(messages, tools=only)
    assert reply.calls == [] and "**Root cause**" in reply.text


async def test_kubernetes_target_starts_with_pods():
    messages = [
        {"role": "system", "content": K8S_SYSTEM},
        {"role": "user", "content": "checkout pods in namespace payments keep crashing since the deploy"},
    ]
    reply = await ask(messages)
    assert ("list_pods", {"namespace": "payments"}) in reply.named()


# ------------------------------------------------------------------ every sandbox scenario, end to end


def _system_for(target) -> str:
    d = target.describe()
    lines = ["You are Firstline.", f"Target: {d['name']} ({d['kind']})"]
    for k, v in d.items():
        if k not in ("name", "kind", "summary", "title") and v:
            lines.append(f"{k.capitalize()}: {v if isinstance(v, str) else ', '.join(map(str, v))}")
    return "\n".join(lines)


async def drive(target, user: str, approve: bool = False, max_steps: int = 10) -> tuple[str, list[dict]]:
    """A minimal agent loop: model -> tools on the target -> tool messages, until the model answers."""
    from assistant.config import Settings
    from assistant.context import allowed_tools
    from tools.runner import run_tool

    schemas = [t.function_schema() for t in allowed_tools(Settings(), target)]  # with `host` on a fleet
    messages = [{"role": "system", "content": _system_for(target)}, {"role": "user", "content": user}]
    prior: list = []
    for _ in range(max_steps):
        reply = await ask(messages, schemas)
        if not reply.calls:
            return reply.text, messages
        messages.append(assistant_calls(reply))
        for cid, name, args in reply.calls:
            result = await run_tool(target, name, args, approved=approve)
            found = analyze(result, cid, prior)
            prior += found
            msg = tool_message(cid, result.command or name, result.output, result.exit_code, result.error)
            msg["content"] += "".join(f"\n# finding F{i}: {f.title}" for i, f in enumerate(found, len(prior)))
            messages.append(msg)
    raise AssertionError("the runbook model did not answer within the step budget")


def _scenarios():
    try:
        from tools.targets.sandbox import list_scenarios
    except ImportError:
        return []
    return list_scenarios()


@pytest.mark.parametrize("scenario", _scenarios(), ids=lambda s: s.id)
async def test_solves_sandbox_scenario(scenario):
    from tools.targets import open_target

    target = open_target(f"sandbox:{scenario.id}")
    answer, messages = await drive(target, scenario.report)
    assert answer.startswith(("**Root cause**", "**Hosts with a problem"))
    for pattern in scenario.expect:
        assert re.search(pattern, answer, re.IGNORECASE), f"{pattern!r} not in answer:\n{answer}"
    calls = [tc for m in messages if m.get("tool_calls") for tc in m["tool_calls"]]
    assert len(calls) <= 8
    keys = [tc["function"]["name"] + tc["function"]["arguments"] for tc in calls]
    assert len(keys) == len(set(keys)), "repeated an identical call"
    assert not any(TOOLS[tc["function"]["name"]].risk.value == "write" for tc in calls)
    outputs = "\n".join(m["content"] for m in messages if m["role"] == "tool")
    assert all(q in outputs for q in evidence_quotes(answer))


VARIANTS = [  # other words for the same incidents: the model must not depend on the scenario's phrasing
    (
        "nginx-port-conflict",
        "Website down on web-prod-01. The nginx unit won't come up after the deploy.",
        [r"\b80\b", r"2314"],
    ),
    (
        "postgres-max-connections",
        "orders-api service keeps throwing 500 errors, something with the db?",
        [r"idle in transaction|too many clients"],
    ),
    ("oom-killed", "pods of payments-api (ns payments) are crashlooping", [r"OOMKilled", r"256Mi"]),
    ("configmap-wrong-host", "orders-api in the orders namespace is in CrashLoopBackOff", [r"NXDOMAIN"]),
    ("disk-full", "ingest-worker stopped processing, errors about writing files", [r"100%", r"/var"]),
]


@pytest.mark.parametrize("scenario_id,user,expect", VARIANTS, ids=[v[0] for v in VARIANTS])
async def test_solves_reworded_reports(scenario_id, user, expect):
    from tools.targets import open_target

    if scenario_id not in {s.id for s in _scenarios()}:
        pytest.skip(f"scenario {scenario_id} not shipped")
    answer, _ = await drive(open_target(f"sandbox:{scenario_id}"), user)
    for pattern in expect:
        assert re.search(pattern, answer, re.IGNORECASE), f"{pattern!r} not in answer:\n{answer}"


async def test_unseen_variant_scenario(tmp_path: Path):
    """A scenario the model has never seen: another owner process, pid and host for the port conflict."""
    from tools.targets import open_target
    from tools.targets.base import TargetConfig

    shipped = Path(__file__).resolve().parent.parent / "tools" / "scenarios" / "nginx-port-conflict.yaml"
    if not shipped.exists():
        pytest.skip("nginx-port-conflict not shipped")
    text = shipped.read_text()
    for old, new in [
        ("id: nginx-port-conflict", "id: edge-port-clash"),
        ("2314", "4471"),
        ("node /opt/old-app/server.js", "python3 /srv/legacy/app.py"),
        ("web-prod-01", "edge-07"),
    ]:
        text = text.replace(old, new)
    (tmp_path / "edge-port-clash.yaml").write_text(text)
    target = open_target("sandbox:edge-port-clash", TargetConfig(scenarios_dir=tmp_path))
    answer, _ = await drive(target, "edge-07: nginx is failed and the site is down")
    assert "4471" in answer and "python3 /srv/legacy/app.py" in answer and "80" in answer


async def test_fix_end_to_end_on_sandbox():
    from tools.targets import open_target

    if "nginx-port-conflict" not in {s.id for s in _scenarios()}:
        pytest.skip("nginx-port-conflict not shipped")
    target = open_target("sandbox:nginx-port-conflict")
    _, messages = await drive(target, "nginx on web-prod-01 will not start")
    messages.append({"role": "user", "content": "go ahead"})
    from tools.runner import run_tool

    said_with_writes = []
    for _ in range(6):
        reply = await ask(messages, [t.function_schema() for t in TOOLS.values() if target.supports(t.name)])
        if not reply.calls:
            break
        if any(TOOLS[name].risk.value == "write" for _, name, _ in reply.calls):
            said_with_writes.append(reply.text)  # what the approval card shows as the reason
        messages.append(assistant_calls(reply))
        for cid, name, args in reply.calls:
            r = await run_tool(target, name, args, approved=True)
            messages.append(tool_message(cid, r.command or name, r.output, r.exit_code, r.error))
    assert "**Actions**" in reply.text and "active (running)" in reply.text
    assert "no remaining fault" in reply.text
    assert said_with_writes and re.match(r"Fix: port 80 is held by node \(pid 2314", said_with_writes[0]), (
        said_with_writes
    )


# ------------------------------------------------------------------ a real Kubernetes target (recorded API server)


@pytest.fixture
def kube_target(tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    k8s_api = pytest.importorskip("k8s_api")
    from tools.targets import open_target
    from tools.targets.base import TargetConfig

    with k8s_api.KubeApiServer() as api:
        kubeconfig = k8s_api.write_kubeconfig(tmp_path / "kubeconfig", api.url)
        yield open_target("kubernetes", TargetConfig(kubeconfig=kubeconfig))


async def test_kubernetes_follows_the_named_workload(kube_target):
    """A namespace with several broken workloads: the one the engineer names is investigated and answered."""
    answer, _ = await drive(kube_target, "search in namespace shop is down")
    assert "search-" in answer and "cannot be scheduled" in answer and "Insufficient memory" in answer
    answer, _ = await drive(kube_target, "the worker pods in namespace shop keep restarting")
    assert "OOMKilled" in answer and "worker" in answer.split("**Evidence**")[0]


async def test_kubernetes_healthy_named_workload_is_not_blamed(kube_target):
    answer, _ = await drive(kube_target, "is the api in namespace shop ok?")
    assert answer.startswith("**Root cause** — No fault found in api")
    assert "Other problems I saw" in answer and "ImagePullBackOff" in answer


async def test_odd_inputs_never_crash_the_model():
    """No tools offered, content parts, unparsable arguments, unknown roles: still a plain, honest answer."""
    messages = [
        {"role": "system", "content": [{"type": "text", "text": HOST_SYSTEM}]},
        {"role": "user", "content": [{"type": "text", "text": "nginx on web-prod-01 returns 503"}]},
    ]
    reply = await ask(messages, tools=[])
    assert reply.calls == [] and "could not run any check" in reply.text
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "x1",
                    "type": "function",
                    "function": {"name": "service_status", "arguments": "{not json"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "x1", "content": "no header at all\n\x00\x1b[31mred\x1b[0m"},
        {"role": "tool", "tool_call_id": "unknown-id", "content": "orphan"},
        {"role": "developer", "content": "ignored"},
    ]
    reply = await ask(messages)
    assert reply.finish in ("tool_calls", "stop") and "internal error" not in reply.text


# ------------------------------------------------------------------ the loop's direct path


async def direct(messages: list[dict]) -> Reply:
    """What the agent loop gets: `RunbookModel`, which answers firstline/* without litellm."""
    from assistant.model import Completion
    from assistant.runbook.model import RunbookModel

    reply, pieces = Reply(""), []
    async for item in RunbookModel(MODEL).stream(messages, ALL_TOOLS):
        if isinstance(item, Completion):
            reply.text = item.text
            reply.calls = [(c.id, c.name, json.loads(c.arguments)) for c in item.tool_calls]
            reply.usage = {
                "prompt_tokens": item.prompt_tokens,
                "completion_tokens": item.completion_tokens,
                "cost_usd": item.cost_usd,
            }
        else:
            pieces.append(item)
    assert "".join(pieces) == reply.text
    return reply


async def test_direct_path_answers_exactly_as_the_litellm_provider():
    messages, first = await nginx_conversation()
    mine = await direct(messages)
    assert mine.calls == first.calls and mine.text == first.text
    assert mine.usage["prompt_tokens"] == first.usage["prompt_tokens"]
    assert (
        mine.usage["completion_tokens"] == first.usage["completion_tokens"] and mine.usage["cost_usd"] == 0.0
    )
    messages.append(assistant_calls(first))
    for cid, name, _ in first.calls:
        output = SYSTEMCTL_BIND if name == "service_status" else HTTP_OK
        messages.append(tool_message(cid, name, output, 3 if name == "service_status" else 0))
    messages.append(assistant_calls(await ask(messages)))
    messages.append(tool_message(messages[-1]["tool_calls"][0]["id"], "ss -ltnp 'sport = :80'", SS_OWNER))
    theirs, mine = await ask(messages), await direct(messages)
    assert (
        mine.text.startswith("**Root cause**")
        and mine.text == theirs.text
        and mine.calls == theirs.calls == []
    )


def test_offline_turn_never_loads_litellm(tmp_path: Path):
    """The demo and the CLI with the offline model skip litellm's 3+ s of imports altogether."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom cli import app\n"
        "r = CliRunner().invoke(app, ['chat', 'nginx on web-prod-01 returns 503', '--target',"
        " 'sandbox:nginx-port-conflict'])\n"
        "assert r.exit_code == 0, r.output\nassert 'Root cause' in r.output, r.output\n"
        "print('litellm' in sys.modules)\n"
    )
    env = dict(os.environ, FIRSTLINE_HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
