"""Where a turn's CPU work (findings analysis, token budgeting, the offline model's thinking) runs.

In the server, in worker threads, so the event loop keeps streaming other sessions meanwhile. Anywhere
else (the CLI, the eval runner) nothing else is waiting on the loop, so the work runs inline: a thread hop
per call only costs time there (measured: ~15% of an eval suite's wall time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


async def run(offload: bool, fn: Callable[..., T], *args: Any, executor: Executor | None = None) -> T:
    """`fn(*args)`: in `executor` (default: the loop's) when `offload` (the turn's context says so in the
    server), inline otherwise."""
    if not offload:
        return fn(*args)
    return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
