"""Cleaning and masking a tool's output off the event loop: in a thread, or for megabytes in a process.

`re` holds the GIL while it scans. A thread masking a 2 MB pod log therefore makes the event loop wait
for the GIL after every socket call it makes (the convoy effect): /healthz took up to 107 ms while two
hostile logs were masked in threads (bench/redaction_worst_case.py). Outputs of `PROCESS_MIN_CHARS`
and more are masked in one spawned worker process instead, which shares no GIL with the server; smaller
ones, the common case, keep the cheaper thread hop. A worker that dies is replaced on the next call,
and that call masks in a thread, so an output is never returned unmasked.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tools.output import clean
from tools.redact import Masker, redact

PROCESS_MIN_CHARS = 256 * 1024

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def clean_and_mask(output: str, redactor: Callable[[str], str]) -> str:
    return redactor(clean(output))


def _worker_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=os.nice,  # on two cores, the server's loop must win the CPU from a long mask
                initargs=(10,),
            )
        return _pool


def start_worker() -> None:
    """Start the masking worker now (the server calls this from a thread as it starts), so the first
    megabyte output does not pay for an interpreter start-up while requests compete for two cores."""
    _worker_pool().submit(int).result()


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _sendable(redactor: Callable[[str], str]) -> bool:
    """Only redactors that are plain data can cross to the worker (a closure could not be pickled)."""
    return redactor is redact or isinstance(redactor, Masker)


async def clean_and_mask_off_loop(output: str, redactor: Callable[[str], str]) -> str:
    """`clean_and_mask(output, redactor)`, never on the event loop."""
    if len(output) >= PROCESS_MIN_CHARS and _sendable(redactor):
        pool = _worker_pool()
        try:
            return await asyncio.wrap_future(pool.submit(clean_and_mask, output, redactor))
        except BrokenProcessPool:
            _discard(pool)
    return await asyncio.to_thread(clean_and_mask, output, redactor)
