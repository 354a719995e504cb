"""The readers end to end: a recorded incident replayed through the offline model, so the answer an engineer
reads is checked, not only the findings. Outputs are written the way the real commands print them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from assistant.config import Settings
from evals.format import load_cases
from evals.suite import run_case

RUN_ERROR_CASE = """\
format: firstline-session/1
id: e2e-run-container-error
title: 'web: rollout stuck, the new container cannot start'
tags: [kubernetes]
target: {name: prod, kind: kubernetes}
turns:
  - 'the web deployment in namespace prod is stuck after the last rollout, why?'
tools:
  - tool: list_pods
    args: {namespace: prod}
    exit_code: 0
    output: |
      NAME                   READY   STATUS              RESTARTS      AGE
      web-6c9d7f8b5-aaaaa    1/1     Running             0             3d
      web-5f7d9c8b5-qq2xw    0/1     RunContainerError   3 (12s ago)   2m
  - tool: pod_describe
    args: {pod: web-5f7d9c8b5-qq2xw, namespace: prod}
    exit_code: 0
    output: |
      Name:         web-5f7d9c8b5-qq2xw
      Namespace:    prod
      Status:       Running
      Containers:
        web:
          State:          Waiting
            Reason:       RunContainerError
          Last State:     Terminated
            Reason:       StartError
            Message:      failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "gunicron": executable file not found in $PATH: unknown
            Exit Code:    128
          Ready:          False
          Restart Count:  3
expect:
  root_cause: ['executable file not found']
"""

UNREADABLE_CASE = """\
format: firstline-session/1
id: e2e-unreadable-listing
title: 'shop: pods cannot be listed'
tags: [kubernetes]
target: {name: prod, kind: kubernetes}
turns:
  - 'is anything wrong with the pods in namespace shop?'
tools:
  - tool: list_pods
    args: {namespace: shop}
    exit_code: 0
    output: |
      error: You must be logged in to the server (Unauthorized)
expect:
  no_fault: true
"""


def _run(tmp_path: Path, text: str):
    path = tmp_path / "case.yaml"
    path.write_text(text)
    [case] = load_cases([path]).cases
    return asyncio.run(run_case(case, "firstline/runbook", Settings(home=tmp_path / "home")))


def test_the_answer_names_why_the_container_cannot_start(tmp_path):
    result = _run(tmp_path, RUN_ERROR_CASE)
    head = result.answer.split("\n\n")[0]
    assert "RunContainerError" in head and 'exec: "gunicron": executable file not found in $PATH' in head


def test_an_unreadable_listing_is_a_gap_in_the_answer_not_zero_pods(tmp_path):
    result = _run(tmp_path, UNREADABLE_CASE)
    assert "could not read as list_pods output" in result.answer
    assert "error: You must be logged in to the server (Unauthorized)" in result.answer
