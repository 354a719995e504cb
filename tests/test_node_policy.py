"""A node keeps its own policy whatever the server asks: a hostile server, speaking the real protocol.

The server here is a WebSocket server in the test (what a compromised Firstline server could send);
the node is a real `firstline node run` process. Its approvals are signed with a key the node pinned,
so the test can also send correctly signed calls and see those run.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.server import serve

from tools.node import approval
from tools.node import protocol as p

pytestmark = pytest.mark.slow  # real `firstline node` processes against a hostile server


def _node_config(tmp_path: Path, port: int, key: Ed25519PrivateKey, **policy) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("line one\nline two\n")
    (tmp_path / "secret.txt").write_text("not for the server\n")
    lines = [
        f'server = "ws://127.0.0.1:{port}"',
        'name = "db-01"',
        'token = "fln_0123456789ab_' + "x" * 30 + '"',
        f'server_key = "{approval.public_key_b64(key)}"',
        "heartbeat_s = 1.0",
        "",
        "[policy]",
        f'log_roots = ["{logs}"]',
        'http_allow = ["localhost"]',
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in policy.items()]
    path = tmp_path / "node.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class HostileServer:
    """Accepts the node, then sends whatever calls the test wants and hands back the results."""

    def __init__(self) -> None:
        self.ws = None
        self.hello: p.Hello | None = None
        self.connected = asyncio.Event()
        self.results: dict[str, dict] = {}
        self.arrived = asyncio.Condition()
        self.connections = 0

    async def handler(self, ws) -> None:
        self.connections += 1
        self.hello = p.parse(await ws.recv())
        await ws.send(p.dump(p.Welcome(node=self.hello.name, heartbeat_s=1.0)))
        self.ws = ws
        self.connected.set()
        async for frame in ws:
            msg = p.parse(frame)
            if isinstance(msg, p.Result):
                async with self.arrived:
                    self.results[msg.id] = msg.result
                    self.arrived.notify_all()

    async def call(self, call_id: str, tool: str, args: dict, approval_: p.Approval | None = None) -> dict:
        await self.ws.send(p.dump(p.Call(id=call_id, tool=tool, args=args, approval=approval_)))
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: call_id in self.results), 20)
        return self.results[call_id]


def _signed(key, tool: str, args: dict, approval_id: str, node: str = "db-01", ttl: int = 60) -> p.Approval:
    expires = int(time.time()) + ttl
    return p.Approval(
        approval_id=approval_id,
        expires_at=expires,
        signature=approval.sign(key, node, tool, args, approval_id, expires),
    )


async def test_a_node_refuses_what_its_policy_and_signatures_do_not_allow(tmp_path):
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    hostile = HostileServer()
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    async with serve(hostile.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        config = _node_config(tmp_path, port, key, allow_tools=["log_tail", "port_owner", "kill_process"])
        config.write_text(
            config.read_text() + '\n[policy.arg_limits.kill_process]\nsignal = ["TERM", "HUP"]\n'
        )
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        node = subprocess.Popen(
            [sys.executable, "-m", "cli", "node", "run", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            await asyncio.wait_for(hostile.connected.wait(), 30)
            assert hostile.hello.name == "db-01"
            assert sorted(hostile.hello.policy["allow_tools"]) == ["kill_process", "log_tail", "port_owner"]
            kill = {"pid": victim.pid, "signal": "TERM"}

            unsigned = await hostile.call("c1", "kill_process", kill)
            forged = await hostile.call(
                "c2", "kill_process", kill, _signed(other, "kill_process", kill, "a-forged")
            )
            other_args = await hostile.call(
                "c3", "kill_process", kill, _signed(key, "kill_process", {**kill, "pid": 1234}, "a-args")
            )
            other_node = await hostile.call(
                "c4", "kill_process", kill, _signed(key, "kill_process", kill, "a-node", node="db-02")
            )
            expired = await hostile.call(
                "c5", "kill_process", kill, _signed(key, "kill_process", kill, "a-old", ttl=-5)
            )
            not_allowed = await hostile.call("c6", "service_status", {"service": "ssh"})
            outside = await hostile.call("c7", "log_tail", {"source": str(tmp_path / "secret.txt")})
            not_host = await hostile.call("c8", "pod_logs", {"pod": "x"})
            hard = {"pid": victim.pid, "signal": "KILL"}  # signed, but outside the node's argument limits
            too_hard = await hostile.call(
                "c8b", "kill_process", hard, _signed(key, "kill_process", hard, "a-kill")
            )
            assert "outside this node's limits" in too_hard["error"]
            for refused in (
                unsigned,
                forged,
                other_args,
                other_node,
                expired,
                not_allowed,
                not_host,
                too_hard,
            ):
                assert refused["ok"] is False and refused["error"].startswith("refused by node db-01"), (
                    refused
                )
            assert "no signed approval" in unsigned["error"]
            assert "not signed by this node's server" in forged["error"]
            assert "not signed" in other_args["error"] and "not signed" in other_node["error"]
            assert "expired" in expired["error"]
            assert outside["ok"] is False and "not for the server" not in json.dumps(outside)
            assert victim.poll() is None  # nothing above touched it

            good = _signed(key, "kill_process", kill, "a-good")
            ran = await hostile.call("c9", "kill_process", kill, good)
            assert ran["ok"] is True and f"sent SIGTERM to {victim.pid}" in ran["output"]
            assert victim.wait(10) == -15
            replay = await hostile.call("c10", "kill_process", kill, good)
            assert "already used" in replay["error"]
            tail = await hostile.call("c11", "log_tail", {"source": str(tmp_path / "logs" / "app.log")})
            assert tail["ok"] and "line two" in tail["output"]
        finally:
            node.terminate()
            _, stderr = await asyncio.to_thread(node.communicate, timeout=10)
            if victim.poll() is None:
                victim.kill()
    audit_lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [a["call"] for a in audit_lines if a["tool"] == "kill_process" and a["ok"]] == ["c9"]
    assert {a["approval_id"] for a in audit_lines if a["call"] in ("c9", "c10")} == {"a-good"}


async def test_a_read_only_node_refuses_even_a_signed_write(tmp_path):
    key = Ed25519PrivateKey.generate()
    hostile = HostileServer()
    async with serve(hostile.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        config = _node_config(tmp_path, port, key, allow_tools=["kill_process"], read_only=True)
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        node = subprocess.Popen(
            [sys.executable, "-m", "cli", "node", "run", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(hostile.connected.wait(), 30)
            assert hostile.hello.policy["allow_tools"] == [] and hostile.hello.policy["read_only"] is True
            args = {"pid": 999999, "signal": "TERM"}
            res = await hostile.call("w1", "kill_process", args, _signed(key, "kill_process", args, "a-1"))
            assert "read-only" in res["error"] and res["ok"] is False
        finally:
            node.terminate()
            await asyncio.to_thread(node.wait, 10)


async def test_a_node_reconnects_after_the_link_drops_and_serves_again(tmp_path):
    key = Ed25519PrivateKey.generate()
    hostile = HostileServer()
    async with serve(hostile.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        config = _node_config(tmp_path, port, key, allow_tools=["disk_usage"])
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        node = subprocess.Popen(
            [sys.executable, "-m", "cli", "node", "run", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(hostile.connected.wait(), 30)
            hostile.connected.clear()
            await hostile.ws.close(1012, "service restart")  # the server goes away, as in a restart
            await asyncio.wait_for(hostile.connected.wait(), 30)  # backoff with jitter, then back
            assert hostile.connections == 2 and node.poll() is None
            assert (await hostile.call("r1", "disk_usage", {"path": "/"}))["ok"]
        finally:
            node.terminate()
            await asyncio.to_thread(node.wait, 10)
