"""`firstline node` end to end: real node processes in network namespaces, a real server on their gateway.

Each "host" is a network namespace (tests/netns.py) with its own sockets; the node inside runs the
local target's tools there and reaches the server only over the namespaces' bridge. The model is the
offline runbook, which needs no provider: asked "is URL up?" it runs http_check, asked "please kill pid N" it
proposes kill_process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from netns import Fleet
from nodefleet import (
    GatewayServer,
    client,
    connected,
    enroll,
    listen_argv,
    run_turn,
    server_env,
    shop_app,
    start_host,
    start_node,
    wait_for,
)

from assistant import audit, store

pytestmark = pytest.mark.slow  # node processes in network namespaces against a server (11-25 s each)


@pytest.fixture
def one_host():
    with Fleet(1) as fleet:
        yield fleet


def _server(tmp_path, fleet, db_url=None, **env) -> GatewayServer:
    url = db_url or f"sqlite:///{tmp_path / 'firstline.db'}"
    return GatewayServer(
        server_env(tmp_path / "home", url, **env), tmp_path / "server.log", fleet.gateway
    ).start()


def _approve_pending(c, sid: str, by: str = "alice") -> dict:
    def pending():
        return next(
            (a for a in c.get(f"/api/sessions/{sid}/approvals").json() if a["status"] == "pending"), None
        )

    request = wait_for(pending, "a pending approval")
    r = c.post(
        f"/api/sessions/{sid}/approvals/{request['approval_id']}", json={"decision": "approve", "by": by}
    )
    assert r.status_code == 200, r.text
    return request


def _kill_turn(c, target: str, pid: int) -> str:
    r = c.post("/api/sessions", json={"target": target})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert (
        c.post(f"/api/sessions/{sid}/messages", json={"content": f"please kill pid {pid}"}).status_code == 202
    )
    return sid


def test_an_approved_write_runs_on_the_node_and_a_mis_signed_one_is_refused(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tools.node.approval import public_key_b64

    with Fleet(2) as fleet:
        good, wrong = fleet.hosts
        victims = [h.popen(["sleep", "300"]) for h in (good, wrong)]
        server = _server(tmp_path, fleet)
        try:
            with client(server) as c:
                start_node(
                    good,
                    enroll(c, "app-01", {"role": "app"}, tmp_path, allow_tools=["kill_process"]),
                    tmp_path / "good.log",
                )
                pinned_elsewhere = public_key_b64(Ed25519PrivateKey.generate())  # not this server's key
                start_node(
                    wrong,
                    enroll(
                        c,
                        "app-02",
                        {"role": "app"},
                        tmp_path,
                        allow_tools=["kill_process"],
                        server_key=pinned_elsewhere,
                    ),
                    tmp_path / "wrong.log",
                )
                connected(c, "app-01", "app-02")
                results = {}
                for name, victim in (("app-01", victims[0]), ("app-02", victims[1])):
                    sid = _kill_turn(c, f"node:{name}", victim.pid)
                    request = _approve_pending(c, sid)
                    assert request["target"] == f"node:{name}" and request["args"]["pid"] == victim.pid
                    wait_for(lambda s=sid: c.get(f"/api/sessions/{s}").json()["status"] == "idle", "turn end")
                    call = next(
                        t
                        for t in c.get(f"/api/sessions/{sid}/tool_calls").json()
                        if t["tool"] == "kill_process"
                    )
                    results[name] = (sid, request, call)
        finally:
            server.stop()
        assert victims[0].wait(10) == -15  # app-01 ran it
        assert victims[1].poll() is None  # app-02 refused: the approval is not signed by the key it pinned
    sid, request, ran = results["app-01"]
    assert ran["ok"] and f"sent SIGTERM to {victims[0].pid}" in ran["output"]
    _, _, refused = results["app-02"]
    assert (
        not refused["ok"]
        and "refused by node app-02" in refused["error"]
        and "not signed" in refused["error"]
    )
    engine = store.open_store(f"sqlite:///{tmp_path / 'firstline.db'}")
    entry = next(e for e in audit.export(engine) if e["session_id"] == sid and e["kind"] == "tool_execution")
    engine.dispose()
    assert (
        entry["approval_id"] == request["approval_id"] and entry["detail"]["approved_by"] == "admin"
    )  # FIRSTLINE_AUTH_TOKEN is the admin; a body `by` is ignored
    assert entry["detail"]["node"] == "app-01" and entry["command"] == f"kill -TERM {victims[0].pid}"


def test_a_revoked_token_is_cut_off_at_once_and_refused_afterwards(tmp_path, one_host):
    host = one_host.hosts[0]
    server = _server(tmp_path, one_host)
    try:
        with client(server) as c:
            config = enroll(c, "web-09", {"role": "web"}, tmp_path)
            node = start_node(host, config, tmp_path / "node.log")
            connected(c, "web-09")
            assert "firstline_nodes_connected 1.0" in c.get("/metrics").text
            r = c.post("/api/nodes/web-09/revoke")
            assert r.status_code == 200 and r.json()["revoked"] is True
            assert node.wait(10) == 3  # the link was closed with "revoked": the node stops, it does not retry
            row = next(n for n in c.get("/api/nodes").json() if n["name"] == "web-09")
            assert row["connected"] is False and row["revoked"] is True
            assert "firstline_nodes_connected 0.0" in c.get("/metrics").text
            again = start_node(host, config, tmp_path / "node2.log")
            assert again.wait(20) == 3  # the same token is refused at the handshake
            r = c.post("/api/sessions", json={"target": "node:web-09"})
            assert r.status_code == 422 and "revoked" in r.text
    finally:
        server.stop()
    assert "token was revoked" in (tmp_path / "node.log").read_text()
    assert "refused this node's token (HTTP 403)" in (tmp_path / "node2.log").read_text()


def test_a_call_in_flight_when_the_link_is_cut_ends_as_an_error_result(tmp_path, one_host):
    host = one_host.hosts[0]
    stall = (
        "import socket,time\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', 8099)); s.listen()\nconns=[]\nwhile True: conns.append(s.accept())\n"
    )
    server = _server(tmp_path, one_host)
    try:
        with client(server) as c:
            host.popen([sys.executable, "-c", stall])  # accepts, never answers
            start_node(host, enroll(c, "web-03", {"role": "web"}, tmp_path), tmp_path / "node.log")
            connected(c, "web-03")
            r = c.post("/api/sessions", json={"target": "node:web-03"})
            sid = r.json()["id"]
            c.post(f"/api/sessions/{sid}/messages", json={"content": "is http://127.0.0.1:8099/ up?"})
            wait_for(lambda: _in_flight(c, sid), "the call to be in flight")
            time.sleep(0.5)  # the node has it: the call frame went out before the cable is pulled
            one_host.cut(host)  # the cable, not a clean close: only missing heartbeats tell
            wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "idle", "the turn to end", 40)
            call = next(
                t for t in c.get(f"/api/sessions/{sid}/tool_calls").json() if t["tool"] == "http_check"
            )
            row = next(n for n in c.get("/api/nodes").json() if n["name"] == "web-03")
    finally:
        server.stop()
    assert call["ok"] is False and call["output_sha256"] is None
    assert "web-03" in call["error"] and ("dropped" in call["error"] or "closed" in call["error"]), call[
        "error"
    ]
    assert row["connected"] is False


def _in_flight(c, sid: str) -> bool:
    return any(t["tool"] == "http_check" for t in c.get(f"/api/sessions/{sid}/tool_calls").json())


def test_a_port_conflict_on_one_of_three_hosts_is_diagnosed_across_the_group(tmp_path):
    question = "Which web hosts return 503 on http://localhost:8080/healthz? The shop service serves it."
    with Fleet(3) as fleet:
        server = _server(tmp_path, fleet)  # the offline runbook model
        try:
            with client(server) as c:
                enroll(c, "db-01", {"role": "db", "env": "prod"}, tmp_path)  # enrolled, not in the group
                for i, host in enumerate(fleet.hosts, start=1):
                    name = f"web-0{i}"
                    config = enroll(c, name, {"role": "web", "env": "prod"}, tmp_path)
                    logs = tmp_path / name / "log" / "shop"
                    logs.mkdir(parents=True)
                    apps = []
                    if name == "web-02":  # the old app still holds the port and answers 503
                        apps.append(
                            {
                                **shop_app(8080, logs / "legacy.log", 503, "legacy: maintenance", "legacy"),
                                "wait_port": 8080,
                            }
                        )
                    apps.append(
                        {
                            **shop_app(8080, logs / "shop.log"),
                            **({"wait_exit": True} if name == "web-02" else {"wait_port": 8080}),
                        }
                    )
                    start_host(host, tmp_path, name, config, apps)
                connected(c, "web-01", "web-02", "web-03")
                nodes = {n["name"]: n for n in c.get("/api/nodes").json()}
                sid, calls = run_turn(c, "nodes:role=web,env=prod", question)
                answer = _answer(c, sid)
        finally:
            server.stop()
    first = [t for t in calls if t["tool"] == "http_check"]
    assert sorted(t["args"]["host"] for t in first) == ["web-01", "web-02", "web-03"]
    assert all(t["target"] == "nodes:role=web,env=prod" for t in calls)
    followed = {t["args"]["host"] for t in calls if t["tool"] == "port_owner"}
    assert followed == {"web-02"}
    owner = next(t for t in calls if t["tool"] == "port_owner")
    assert "legacy.py" in owner["output"] and "shop.py" not in owner["output"]
    assert "Hosts with a problem: web-02" in answer and "8080" in answer and "legacy" in answer
    assert "db-01" not in answer
    assert nodes["web-02"]["labels"] == {"role": "web", "env": "prod"} and nodes["web-02"]["connected"]
    assert (
        nodes["web-02"]["facts"]["kernel"] and nodes["web-02"]["version"] and not nodes["db-01"]["connected"]
    )
    engine = store.open_store(f"sqlite:///{tmp_path / 'firstline.db'}")
    trail = {
        e["call_id"]: e
        for e in audit.export(engine)
        if e["session_id"] == sid and e["kind"] == "tool_execution"
    }
    assert audit.verify(engine).ok
    engine.dispose()
    for call in calls:  # every remote call: host, node, token id, command, exit status, output hash
        entry = trail[call["call_id"]]
        host = call["args"]["host"]
        assert (entry["detail"]["host"], entry["detail"]["node"]) == (host, host)
        assert entry["detail"]["token_id"] == nodes[host]["token_id"]
        assert (entry["command"], entry["exit_code"], entry["output_sha256"]) == (
            call["command"],
            call["exit_code"],
            call["output_sha256"],
        ) and entry["output_sha256"]


def _answer(c, sid: str) -> str:
    """The turn's final answer, read from the session's event stream (the turn has ended)."""
    text = ""
    with c.stream("GET", f"/api/sessions/{sid}/events?after=0") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                ev = json.loads(line[5:])
                text = ev["data"]["text"] if ev["type"] == "message" else text
                if ev["type"] == "turn_finished":
                    return text
    return text


@pytest.mark.postgres
def test_a_node_on_replica_a_serves_a_turn_running_on_replica_b(tmp_path, pg_database):
    from conftest import _reset_pg
    from nodefleet import GatewayServer as Replica

    _reset_pg(pg_database)
    key = {"FIRSTLINE_NODES__SIGNING_KEY_FILE": str(tmp_path / "node-signing.key")}  # every replica's one key
    with Fleet(1) as fleet:
        host = fleet.hosts[0]
        a = Replica(server_env(tmp_path / "a", pg_database, **key), tmp_path / "a.log", fleet.gateway).start()
        b = Replica(server_env(tmp_path / "b", pg_database, **key), tmp_path / "b.log", "127.0.0.1").start()
        try:
            with client(a) as ca, client(b) as cb:
                listener = host.popen(listen_argv(8088, body="served inside app-07"))
                config = enroll(
                    ca, "app-07", {"role": "app"}, tmp_path, allow_tools=["http_check", "kill_process"]
                )
                start_node(host, config, tmp_path / "node.log")  # it dials replica A only
                connected(cb, "app-07")
                sid, _ = run_turn(cb, "node:app-07", "is http://127.0.0.1:8088/ up?")
                assert (
                    cb.post(
                        f"/api/sessions/{sid}/messages", json={"content": f"please kill pid {listener.pid}"}
                    ).status_code
                    == 202
                )
                request = _approve_pending(cb, sid)
                wait_for(
                    lambda: cb.get(f"/api/sessions/{sid}").json()["status"] == "idle", "the turn to end", 60
                )
                calls = cb.get(f"/api/sessions/{sid}/tool_calls").json()
                held_by = next(n for n in ca.get("/api/nodes").json() if n["name"] == "app-07")["connected"]
                cli = subprocess.run(  # a third process, the terminal, reaches the node the same way
                    [
                        sys.executable,
                        "-m",
                        "cli",
                        "chat",
                        "--target",
                        "node:app-07",
                        "--json",
                        "is http://127.0.0.1:8088/ up?",
                    ],
                    cwd=ROOT,
                    env=server_env(tmp_path / "cli", pg_database, **key),
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
        finally:
            a.stop()
            b.stop()
    assert held_by
    cli_results = [
        json.loads(line)["data"]
        for line in cli.stdout.splitlines()
        if line.startswith("{") and json.loads(line)["type"] == "tool_result"
    ]
    assert cli.returncode == 0 and cli_results and cli_results[0]["remote"]["via"] == "relay", cli.stderr[
        -2000:
    ]
    look, stop = calls[0], next(t for t in calls if t["tool"] == "kill_process")
    assert look["tool"] == "http_check" and "served inside app-07" in look["output"]
    assert stop["ok"] and f"sent SIGTERM to {listener.pid}" in stop["output"]
    assert listener.wait(10) == -15
    engine = store.open_store(pg_database)
    try:
        trail = [e for e in audit.export(engine) if e["session_id"] == sid and e["kind"] == "tool_execution"]
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT tool, status, claimed_by FROM node_calls ORDER BY created_at"
            ).all()
    finally:
        engine.dispose()
    cli_calls = [("http_check", "done")] * len(cli_results)
    assert [(r[0], r[1]) for r in rows] == [(t["tool"], "done") for t in calls] + cli_calls
    assert all(r[2] and r[2] == rows[0][2] for r in rows)  # replica A ran them all
    assert {e["detail"]["via"] for e in trail} == {"relay"} and trail[-1]["approval_id"] == request[
        "approval_id"
    ]
