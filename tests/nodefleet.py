"""Real Firstline servers and real `firstline node` processes for the node tests (see tests/netns.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import ROOT, ServerProcess, free_port, wait_for
from netns import Host

AUTH = "test-ui-token-0123456789abcdef-32"  # serve needs 32+ characters
HEADERS = {"Authorization": f"Bearer {AUTH}"}


class GatewayServer(ServerProcess):
    """`python -m web` bound on the bridge's address (the namespaces' gateway), not loopback."""

    def __init__(self, env: dict[str, str], log_path: Path, host: str) -> None:
        super().__init__(env, log_path, free_port(), host)


def server_env(home: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_") and "proxy" not in k.lower()}
    env.update(
        {
            "FIRSTLINE_HOME": str(home),
            "FIRSTLINE_DATABASE_URL": db_url,
            "FIRSTLINE_AUTH_TOKEN": AUTH,
            "FIRSTLINE_NODES__HEARTBEAT_S": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "*",
        }
    )
    env.update(extra)
    return env


def client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=HEADERS, timeout=30, trust_env=False)


def enroll(c: httpx.Client, name: str, labels: dict[str, str], tmp: Path, **policy) -> Path:
    """Enrol through the API and write the host's node.toml (with a fast heartbeat and the given policy)."""
    r = c.post("/api/nodes", json={"name": name, "labels": labels})
    assert r.status_code == 201, r.text
    body = r.json()
    log_root = tmp / name / "log"
    log_root.mkdir(parents=True, exist_ok=True)
    lines = [
        f'server = "{c.base_url}"',
        f'name = "{name}"',
        f'token = "{body["token"]}"',
        f'server_key = "{policy.pop("server_key", body["server_key"])}"',
        "heartbeat_s = 1.0",
        "backoff_max_s = 2.0",
        "",
        "[policy]",
        f'log_roots = ["{log_root}"]',
        'http_allow = ["localhost", "127.0.0.1"]',
    ]
    for key, value in policy.items():
        lines.append(f"{key} = {_toml(value)}")
    path = tmp / name / "node.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return f'"{value}"'


def start_node(host: Host, config: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("FIRSTLINE_")}
    return host.popen(
        [sys.executable, "-m", "cli", "node", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def connected(c: httpx.Client, *names: str) -> None:
    def check():
        rows = {n["name"]: n for n in c.get("/api/nodes").json()}
        return all(rows.get(n, {}).get("connected") for n in names)

    wait_for(check, f"nodes {names} to connect")


def run_turn(c: httpx.Client, target: str, text: str, timeout: float = 60.0) -> tuple[str, list[dict]]:
    """A session on `target`, one message, wait for the turn to end; the session id and its tool calls."""
    r = c.post("/api/sessions", json={"target": target})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert c.post(f"/api/sessions/{sid}/messages", json={"content": text}).status_code == 202
    wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "idle", "the turn to end", timeout)
    return sid, c.get(f"/api/sessions/{sid}/tool_calls").json()


def listen_argv(port: int, body: str = "ok", status: int = 200) -> list[str]:
    """A tiny HTTP server (no shell) answering every GET with `status` and `body`."""
    code = (
        "import http.server,sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        f"        self.send_response({status}); self.send_header('Content-Type','text/plain'); self.end_headers()\n"
        f"        self.wfile.write({body!r}.encode())\n"
        "    def log_message(self,*a): pass\n"
        f"http.server.HTTPServer(('0.0.0.0',{port}),H).serve_forever()\n"
    )
    return [sys.executable, "-c", code]


def start_host(host: Host, tmp: Path, name: str, config: Path, apps: list[dict]) -> subprocess.Popen:
    """The host's apps and its node in a PID namespace of their own (tests/hostinit.py is its PID 1)."""
    spec = tmp / name / "host.json"
    node = [sys.executable, "-m", "cli", "node", "run", "--config", str(config)]
    spec.write_text(json.dumps({"apps": apps, "node": node}))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("FIRSTLINE_")}
    return host.popen(
        [
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            sys.executable,
            str(ROOT / "tests" / "hostinit.py"),
            str(spec),
        ],
        cwd=ROOT,
        env=env,
        stdout=open(tmp / name / "node.log", "ab"),
        stderr=subprocess.STDOUT,
    )


def shop_app(
    port: int, log: Path, status: int = 200, body: str = '{"status":"ok"}', script: str = "shop"
) -> dict:
    """tests/shopapp.py under the name `script` (the name the host's process table shows)."""
    path = log.parent / f"{script}.py"
    path.write_text((ROOT / "tests" / "shopapp.py").read_text())
    return {
        "argv": [sys.executable, str(path), str(port), str(log), str(status), body],
        "log": str(log) + ".out",
    }
