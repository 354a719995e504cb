"""`firstline chat` prints rendered Markdown to a terminal, raw Markdown to a pipe or with --plain, JSON with --json.

The terminal is a real pseudo-terminal (the child's stdout is the pty's slave end, so `isatty()` is
true for it exactly as in a shell); the pipe is a real pipe.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the CLI in a pseudo-terminal, one process per test

ROOT = Path(__file__).resolve().parent.parent
REPORT = "nginx on web-prod-01 returns 503 for everyone"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTLINE_")}
    env.update(
        FIRSTLINE_HOME=str(tmp_path / "home"),
        FIRSTLINE_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        FIRSTLINE_MODEL="firstline/runbook",
        COLUMNS="100",
        TERM="xterm-256color",
    )
    env.pop("NO_COLOR", None)
    return env


def _argv(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cli",
        "chat",
        REPORT,
        "--target",
        "sandbox:nginx-port-conflict",
        *extra,
    ]


def in_terminal(tmp_path: Path, *extra: str, timeout: float = 120.0) -> str:
    """Run `firstline chat` with a pseudo-terminal as stdout and stderr; everything it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        _argv(*extra), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=_env(tmp_path), cwd=ROOT
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=10) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return b"".join(chunks).decode("utf-8", "replace")


def in_pipe(tmp_path: Path, *extra: str) -> str:
    done = subprocess.run(
        _argv(*extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=_env(tmp_path),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_a_terminal_gets_the_answer_rendered_not_raw_markdown(tmp_path):
    out = in_terminal(tmp_path)
    assert ANSI.search(out), "a terminal gets styles"
    text = ANSI.sub("", out)
    assert "Root cause" in text and "Evidence" in text
    assert "**Root cause**" not in text and "**Evidence**" not in text
    assert not re.search(r"(?<!`)`[^`\n]+`(?!`)", text.split("Root cause", 1)[1]), "code spans are rendered"


def test_a_pipe_gets_the_raw_markdown_without_escape_codes(tmp_path):
    out = in_pipe(tmp_path)
    assert "**Root cause**" in out and "**Evidence**" in out
    assert "\x1b[" not in out


def test_plain_keeps_raw_markdown_even_in_a_terminal(tmp_path):
    out = in_terminal(tmp_path, "--plain")
    assert "**Root cause**" in out
    assert not ANSI.search(out)


def test_json_stays_one_event_per_line(tmp_path):
    out = in_pipe(tmp_path, "--json")
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert events[-1]["type"] == "turn_finished"
    assert any(e["type"] == "message" and "**Root cause**" in e["data"]["text"] for e in events)


@pytest.mark.parametrize("flag", ["--plain", "--json"])
def test_help_lists_the_output_flags(tmp_path, flag):
    done = subprocess.run(
        [sys.executable, "-m", "cli", "chat", "--help"],
        capture_output=True,
        env=_env(tmp_path) | {"TERM": "dumb"},
        cwd=ROOT,
        timeout=60,
    )
    assert flag in ANSI.sub("", done.stdout.decode())
