"""Shared pieces of the benchmarks: machine facts, percentiles, tables, figures, a live server, SSE.

Every benchmark prints a small table and one summary line per target, and with `--json PATH`
also writes its figures so `bench/run_all.py` can build the README table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
if (
    str(ROOT) not in sys.path
):  # run from a checkout: `python bench/x.py` puts bench/, not the root, on sys.path
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------ machine, numbers, output


def machine() -> dict[str, Any]:
    """What the figures were measured on; load average matters on a shared 2-core box."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil

    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def print_machine(title: str) -> dict[str, Any]:
    m = machine()
    print(f"== {title}")
    print(
        f"machine: {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB RAM, Python {m['python']}, "
        f"load average {' '.join(map(str, m['load']))}"
    )
    return m


def pct(values: Sequence[float], p: float) -> float:
    """Percentile by linear interpolation (p in 0..100); nan for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return pct(values, 50)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A plain fixed-width table: first column left-aligned, the rest right-aligned."""
    rows = [[_cell(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        )

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


@dataclass
class Figure:
    """One headline number, with its target when it has one."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    source: str = ""

    def text(self) -> str:
        v = f"{self.value:.0f}" if abs(self.value) >= 100 else f"{self.value:.3g}"
        return f"{v} {self.unit}".strip()


def summary(fig: Figure) -> None:
    """The one summary line per target."""
    verdict = "" if fig.met is None else ("  MET" if fig.met else "  MISSED")
    target = f" (target {fig.target})" if fig.target else ""
    print(f"{fig.name}: {fig.text()}{target}{verdict}")


def write_figures(
    path: str | None, script: str, figures: list[Figure], extra: dict[str, Any] | None = None
) -> None:
    if not path:
        return
    data = {
        "script": script,
        "machine": machine(),
        "figures": [asdict(f) | {"source": script} for f in figures],
        **(extra or {}),
    }
    Path(path).write_text(json.dumps(data, indent=2))


def arg_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repeats / sizes (about a minute)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON (for bench/run_all.py)")
    return p


# ------------------------------------------------------------------ a live server


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def serve_argv(port: int) -> list[str]:
    """`firstline serve` on loopback. `python -m cli` is the `firstline` entry point itself
    (cli:main), and needs nothing on PATH."""
    return [sys.executable, "-m", "cli", "serve", "--host", LOOPBACK, "--port", str(port)]


def run_timed(argv: list[str], timeout_s: float = 600.0) -> tuple[float, float, int]:
    """Run argv from the repo root, output discarded: (wall s, CPU s of the child, exit code)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout_s,
        check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode


def cpu_seconds(pid: int) -> float:
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return float("nan")


class Server:
    """`firstline serve` as a subprocess with its own FIRSTLINE_HOME; samples its RSS while it runs."""

    def __init__(
        self,
        database_url: str | None = None,
        ready_timeout_s: float = 90.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = tempfile.mkdtemp(prefix="firstline-bench-")
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.database_url = database_url
        self.ready_timeout_s = ready_timeout_s
        self.ready_s = float("nan")
        self.ready_cpu_s = float("nan")
        """CPU seconds the server had used when it became healthy: on a busy machine, what it would take idle."""
        self.peak_rss = 0
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._log = open(Path(self.home) / "server.log", "w+b")

    def env(self) -> dict[str, str]:
        env = dict(os.environ, FIRSTLINE_HOME=self.home, LITELLM_LOCAL_MODEL_COST_MAP="True")
        env.pop("FIRSTLINE_DATABASE_URL", None)
        if self.database_url:
            env["FIRSTLINE_DATABASE_URL"] = self.database_url
        return {**env, **self.extra_env}

    def start(self) -> Server:
        import httpx

        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            serve_argv(self.port),
            cwd=ROOT,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._sample, daemon=True).start()
        while time.perf_counter() - t0 < self.ready_timeout_s:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"firstline serve exited with {self.proc.returncode}:\n{tail}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    self.ready_s = time.perf_counter() - t0
                    self.ready_cpu_s = cpu_seconds(self.proc.pid)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"firstline serve not healthy after {self.ready_timeout_s:g}s:\n{tail}")

    def _sample(self) -> None:
        import psutil

        try:
            proc = psutil.Process(self.proc.pid)
            while not self._stop.is_set():
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                self.peak_rss = max(self.peak_rss, rss)
                time.sleep(0.05)
        except psutil.Error:
            return

    def rss_now(self) -> int:
        import psutil

        try:
            return psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error:
            return 0

    def log_tail(self, n: int = 4000) -> str:
        if self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-n:]

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ SSE client


@dataclass
class SSE:
    """One received server-sent event; `t` is the client's receive time (time.time())."""

    id: str | None
    event: str
    data: str
    t: float

    def json(self) -> dict[str, Any]:
        return json.loads(self.data)


async def sse_events(response: Any) -> AsyncIterator[SSE]:
    """Parse an httpx streaming response into events. Each is stamped when the client reads the bytes that
    complete it, before any parsing, so the client's own parsing is not counted as delivery time."""
    buf = b""
    async for chunk in response.aiter_bytes():
        t = time.time()
        buf = (buf + chunk).replace(b"\r\n", b"\n")  # sse-starlette ends lines with CRLF
        while b"\n\n" in buf:
            block, _, buf = buf.partition(b"\n\n")
            event = _parse_block(block.decode(), t)
            if event is not None:
                yield event


def _parse_block(block: str, t: float) -> SSE | None:
    eid, etype, data = None, "message", []
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            etype = value
        elif name == "id":
            eid = value
    return SSE(eid, etype, "\n".join(data), t) if data else None


def iso_ts(text: str) -> float:
    """Server `at` (ISO 8601 with offset) as a POSIX timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


# ------------------------------------------------------------------ time spent in the model


class TimedModel:
    """A Model that adds the time spent inside `inner` (call and stream) to a ModelClock."""

    def __init__(self, inner: Any, clock: ModelClock) -> None:
        self.inner, self.clock, self.name = inner, clock, inner.name

    async def stream(self, messages: list[dict], tools: list[dict] | None) -> AsyncIterator[Any]:
        self.clock.calls += 1
        self.clock.prompts.append(messages)
        items = self.inner.stream(messages, tools).__aiter__()
        while True:
            t0 = time.perf_counter()
            try:
                item = await items.__anext__()
            except StopAsyncIteration:
                return
            finally:
                self.clock.seconds += time.perf_counter() - t0
            yield item

    async def context_window(self) -> int | None:
        return await self.inner.context_window()


class ModelClock:
    """Times the model itself (its call and its stream, not the consumer between items) and keeps the prompts:
    `providers(settings)` hands turns models wrapped in this clock, through the same Model seam the loop uses.

    Everything else in a turn (the loop, tool-call planning, findings, prompt fitting, event building)
    is Firstline's own overhead."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.prompts: list[list[dict]] = []

    def providers(self, settings: Any) -> Any:
        from assistant.providers import Providers

        clock = self

        class TimedProviders(Providers):
            def model(self, name: str) -> Any:
                return TimedModel(super().model(name), clock)

        return TimedProviders(settings)

    def reset(self) -> None:
        self.seconds, self.calls, self.prompts = 0.0, 0, []
