"""`firstline node` end to end: real node processes in network namespaces, a real server on their gateway.

Each "host" is a network namespace (tests/netns.py) with its own sockets; the node inside runs the
local target's tools there and reaches the server only over the namespaces' bridge. The model is the
offline runbook or the local stand-in for a paid API (tests/fake_openai.py) scripted to call a tool.
"""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, model_env
from netns import Fleet
from nodefleet import (
    GatewayServer,
    client,
    connected,
    enroll,
    listen_argv,
    run_turn,
    server_env,
    start_node,
)

from assistant import audit, store


@pytest.fixture
def one_host():
    with Fleet(1) as fleet:
        yield fleet


def _server(tmp_path, fleet, db_url=None, **env) -> GatewayServer:
    url = db_url or f"sqlite:///{tmp_path / 'firstline.db'}"
    return GatewayServer(server_env(tmp_path / "home", url, **env), tmp_path / "server.log", fleet.gateway).start()


def test_a_node_runs_a_read_tool_inside_its_own_host_and_the_call_is_audited(tmp_path, one_host):
    host = one_host.hosts[0]
    script = [{"text": "Who holds 8088?", "calls": [("port_owner", {"port": 8088})]}, {"text": "done"}]
    with FakeOpenAI(script=script, delay_s=0.0) as fake:
        server = _server(tmp_path, one_host, **model_env(fake))
        try:
            with client(server) as c:
                listener = host.popen(listen_argv(8088))
                node = start_node(host, enroll(c, "web-01", {"role": "web"}, tmp_path), tmp_path / "node.log")
                connected(c, "web-01")
                row = next(n for n in c.get("/api/nodes").json() if n["name"] == "web-01")
                assert row["labels"] == {"role": "web"} and row["facts"]["kernel"] and row["version"]
                sid, calls = run_turn(c, "node:web-01", "what holds port 8088?")
        finally:
            server.stop()
    [call] = calls
    assert call["ok"] and call["target"] == "node:web-01", call
    assert f"pid={listener.pid}" in call["output"]  # the namespace's socket: nothing listens on 8088 outside it
    engine = store.open_store(f"sqlite:///{tmp_path / 'firstline.db'}")
    entry = next(e for e in audit.export(engine) if e["session_id"] == sid and e["kind"] == "tool_execution")
    assert audit.verify(engine).ok
    engine.dispose()
    assert entry["detail"]["node"] == "web-01" and entry["detail"]["token_id"] == row["token_id"]
    assert entry["output_sha256"] == call["output_sha256"] and entry["exit_code"] == 0
    assert entry["command"].startswith("ss -ltnp")
    assert node.poll() is None
