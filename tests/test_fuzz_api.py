"""Fuzzing the JSON API from its own OpenAPI schema (schemathesis) against a live server on loopback.

Every operation gets valid-shaped and invalid (negative) inputs, a bounded number each. The
server must never answer 5xx, every 4xx must be a JSON error body, and it must still be
healthy afterwards. Failures from all operations are collected, then reported together.
"""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

MAX_EXAMPLES = 25


def _server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_HOME=str(tmp_path / "home"),
        FIRSTLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'fuzz.db'}",
        FIRSTLINE_MAX_BODY_BYTES="20000",
        FIRSTLINE_MAX_MESSAGE_CHARS="2000",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        NO_PROXY="127.0.0.1,localhost",
        **extra,
    )
    return env


def _fuzz(operation, base_url: str, mode: GenerationMode, failures: list[str]) -> int:
    calls = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=base_url, timeout=15)
        body = str(case.body)[:120]
        where = f"{operation.label} [{mode.value}] {case.method} {case.formatted_path} body={body!r}"
        if response.status_code >= 500:
            failures.append(f"{where} -> {response.status_code}: {response.text[:300]}")
        elif response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                failures.append(
                    f"{where} -> {response.status_code} without a JSON body: {response.text[:120]!r}"
                )
                return
            if not isinstance(body, dict) or not ({"error", "detail"} & body.keys()):
                failures.append(f"{where} -> {response.status_code} with an unexplained body {body!r:.200}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (e.g. GET /api/targets takes no input)
        assert mode is GenerationMode.NEGATIVE, operation.label
    return calls


def test_no_operation_answers_5xx(start_server, tmp_path):
    import httpx

    server = start_server(_server_env(tmp_path))
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    calls = 0
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            calls += _fuzz(operation, server.url, mode, failures)
    assert not failures, "\n".join(failures[:20])
    assert calls >= len(operations) * 10
    assert httpx.get(server.url + "/healthz", timeout=5).json()["ok"] is True
