"""Shared fixtures: a database URL for SQLite-file and PostgreSQL, real server processes, Chromium.

`db_url` is parametrized: every test using it runs on a fresh SQLite file and on a fresh
schema in a per-run PostgreSQL database (`firstline_test_<random>`, dropped at the end);
the PostgreSQL variant skips cleanly when 127.0.0.1:5432 does not answer.

Tests that start real processes, a browser or PostgreSQL are marked `slow` here, from the
fixtures and markers they use (modules that start processes by hand mark themselves), so
`pytest -m "not slow"` is the quick in-process subset.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

# Before anything imports litellm: never download the model price map during tests.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, never a Playwright browser download
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Fixtures that start a process (server, browser, sshd, replica pods, llama.cpp) or need PostgreSQL.
SLOW_FIXTURES = {"start_server", "chromium", "pg_database", "sshd", "pods", "serve", "server", "llama_server"}
SLOW_MARKERS = {"browser", "postgres", "realmodel"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`slow` on what starts processes, a browser or PostgreSQL; browser tests skip without Chromium."""
    no_chromium = pytest.mark.skip(reason=f"needs {CHROMIUM}")
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "chromium" in fixtures:
            item.add_marker(pytest.mark.browser)
        markers = {m.name for m in item.iter_markers()}
        if SLOW_FIXTURES & fixtures or SLOW_MARKERS & markers:
            item.add_marker(pytest.mark.slow)
        if "browser" in markers and not CHROMIUM.exists():
            item.add_marker(no_chromium)


@pytest.fixture
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API), closed at teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def pg_reachable(timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of our own for this test run (SQLAlchemy URL), dropped afterwards."""
    if not pg_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"firstline_test_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        pytest.skip(f"cannot create a PostgreSQL test database: {exc}")
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a wiped schema in the run's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'firstline.db'}"
    url = request.getfixturevalue("pg_database")
    _reset_pg(url)
    return url


@pytest.fixture
def engine(db_url: str):
    from assistant.store import open_store

    eng = open_store(db_url)
    yield eng
    eng.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what: str, timeout: float = 30.0):
    """`predicate()`'s first truthy value, polled every 0.1 s; AssertionError naming `what` at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class ServerProcess:
    """`python -m web` on a port of its own, as a real separate process (subclasses change `argv`)."""

    name = "server"
    health_path = "/healthz"
    log_stdout = True  # False: only stderr (the JSON logs) goes to the log file

    def __init__(
        self, env: dict[str, str], log_path: Path, port: int | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.env, self.log_path, self.host = env, log_path, host
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "web",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def start(self, timeout: float = 90.0) -> Self:
        """Start it and wait until `health_path` answers 200; RuntimeError with the log's tail otherwise."""
        with open(self.log_path, "ab") as log:
            out = log if self.log_stdout else subprocess.DEVNULL
            self.proc = subprocess.Popen(self.argv(), cwd=ROOT, env=self.env, stdout=out, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}"
                )
            try:
                if httpx.get(self.url + self.health_path, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer {self.health_path}:\n{self.log_path.read_text()[-3000:]}"
        )

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill9()


@pytest.fixture
def server_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """Environment for a server process on `db_url` with its own FIRSTLINE_HOME (extend it before starting)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        {
            "FIRSTLINE_HOME": str(tmp_path / "home"),
            "FIRSTLINE_DATABASE_URL": db_url,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


@pytest.fixture
def start_server(tmp_path: Path):
    """start_server(env, port=None) -> a running ServerProcess; every one is stopped at teardown."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], port: int | None = None) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"server-{len(started)}.log", port).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def kube_api():
    """The local Kubernetes API stand-in (tests/k8s_api.py), serving tests/fixtures/k8s."""
    from k8s_api import KubeApiServer

    with KubeApiServer() as server:
        yield server


@pytest.fixture
def kube_config(kube_api, tmp_path):
    from k8s_api import write_kubeconfig

    return write_kubeconfig(tmp_path / "kubeconfig", kube_api.url)


@pytest.fixture
async def kube_target(kube_config):
    """A `kubernetes:fixture` target talking to the stand-in through the real client."""
    from tools.targets import TargetConfig, open_target

    t = open_target("kubernetes:fixture", TargetConfig(kubeconfig=kube_config))
    yield t
    await t.aclose()
