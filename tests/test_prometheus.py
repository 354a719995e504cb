"""A real Prometheus (Debian's `prometheus`, run directly) scrapes a real `firstline serve` with its token.

After one sandbox turn the series are read back through Prometheus's own HTTP query API, so the
exposition format, the content type and the bearer-token auth are all checked by the real consumer.
Skips when the binary is absent (`.ci/prometheus.sh` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Self

import httpx
import pytest
from conftest import free_port
from test_ops import TOKEN, FirstlineServe, run_turn, serve_env

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(PROMETHEUS).exists(),
        reason="Debian's prometheus is not installed (apt-get install prometheus)",
    ),
]  # Debian's Prometheus as a process


def _config(tmp_path: Path, target: str) -> Path:
    token_file = tmp_path / "firstline-token"
    token_file.write_text(TOKEN)
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: firstline
    authorization:
      type: Bearer
      credentials_file: {token_file}
    static_configs:
      - targets: ["{target}"]
""")
    return config


class Prometheus:
    def __init__(self, tmp_path: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "prometheus.log"
        self.argv = [
            PROMETHEUS,
            f"--config.file={_config(tmp_path, target)}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]

    def __enter__(self) -> Self:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def query(self, promql: str) -> list[dict]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        r.raise_for_status()
        return r.json()["data"]["result"]

    def wait_for(self, promql: str, timeout: float = 90.0) -> list[dict]:
        """The query's result once it is non-empty (the first scrapes take a few seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                result = self.query(promql)
            except httpx.HTTPError:
                result = []
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"no result for {promql!r}; prometheus log:\n{self.log.read_text()[-2000:]}")


def test_prometheus_scrapes_firstline_and_reads_back_a_turn(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'firstline.db'}"
    with (
        FirstlineServe(serve_env(tmp_path, db_url), tmp_path / "serve.log") as srv,
        httpx.Client(base_url=srv.url, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        _sid, _posted, events, _during = run_turn(client)
        finished = events[-1]["data"]
        tool_results = sum(e["type"] == "tool_result" for e in events)
        with Prometheus(tmp_path, f"127.0.0.1:{srv.port}") as prom:
            up = prom.wait_for('up{job="firstline"} == 1')  # scraped with the token, parsed without error
            assert up[0]["metric"]["instance"] == f"127.0.0.1:{srv.port}"
            turns = prom.wait_for('firstline_turns_total{status="completed"} > 0')
            assert float(turns[0]["value"][1]) == 1
            calls = prom.wait_for("sum(firstline_tool_calls_total)")
            assert float(calls[0]["value"][1]) == tool_results
            tokens = prom.wait_for('firstline_model_tokens_total{model="firstline/runbook", kind="prompt"}')
            assert float(tokens[0]["value"][1]) == finished["prompt_tokens"]
            assert prom.wait_for("firstline_turn_duration_seconds_count")[0]["value"][1] == "1"
