"""Megabyte outputs are cleaned and masked in a worker process (no GIL shared with the event loop), with the
same result as in a thread; a dead worker never lets an output through unmasked."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from assistant.config import Settings
from assistant.redaction import redactor_for
from tools import offcore
from tools.offcore import PROCESS_MIN_CHARS, clean_and_mask, clean_and_mask_off_loop
from tools.redact import MASK, redact
from tools.runner import run_tool
from tools.targets.base import TargetConfig
from tools.targets.local import LocalTarget

SECRETS = "password=hunter2hunter2 CUST-123456 AKIAIOSFODNN7EXAMPLE \x1b[31mred\x1b[0m\n"


def big_output() -> str:
    filler = "GET /health 200 12ms\n" * (PROCESS_MIN_CHARS // 21 + 10)
    return filler + SECRETS + filler


def test_a_big_output_is_masked_in_a_worker_process_exactly_as_in_a_thread():
    redactor = redactor_for(Settings(redact_patterns=[r"CUST-\d{6}"]))
    text = big_output()
    out = asyncio.run(clean_and_mask_off_loop(text, redactor))
    assert out == clean_and_mask(text, redactor)
    assert "hunter2" not in out and "CUST-123456" not in out and "AKIAIOSFODNN7EXAMPLE" not in out
    assert out.count(MASK) >= 3 and "\x1b" not in out
    pool = offcore._pool
    assert pool is not None and pool._processes  # the worker process did it
    assert all(pid != os.getpid() for pid in pool._processes)


def test_a_dead_worker_is_replaced_and_the_output_still_masked():
    text = big_output()
    asyncio.run(clean_and_mask_off_loop(text, redact))
    pool = offcore._pool
    assert pool is not None
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    outs = [asyncio.run(clean_and_mask_off_loop(text, redact)) for _ in range(3)]
    assert all(o == clean_and_mask(text, redact) for o in outs)
    assert offcore._pool is not None and offcore._pool is not pool


def test_a_redactor_that_cannot_cross_processes_masks_in_a_thread():
    def closure(text: str) -> str:
        return redact(text).replace("health", "HEALTH")

    out = asyncio.run(clean_and_mask_off_loop(big_output(), closure))
    assert "hunter2" not in out and "/HEALTH" in out


def test_log_tail_of_a_megabyte_line_comes_back_masked(tmp_path: Path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "keys.log").write_text("x" * 600_000 + " token=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")
    target = LocalTarget("local", TargetConfig(log_roots=[logs]))
    result = asyncio.run(run_tool(target, "log_tail", {"source": "keys.log", "lines": 5}))
    assert result.ok, result.error
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in result.output
