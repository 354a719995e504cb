"""Concurrency: N sessions at once against a live `firstline serve` (SQLite, then PostgreSQL on
127.0.0.1:5432 when reachable), each posting a message and reading its SSE stream to `turn_finished`.

    python bench/concurrency.py [--quick] [--sizes 25,50,100,200] [--no-postgres] [--no-sqlite] [--json PATH]

Delivery latency = client receive time - the event's server timestamp `at` (one machine, one clock).
Start delay = turn_started's `at` - user_message's `at`: turns beyond `max_running_turns` (32) wait there.
Errors: failed requests, streams that end without `turn_finished`, a turn that is not `completed`,
and any gap or duplicate in the stream's seq.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Self

from benchlib import (
    ROOT,
    Figure,
    Server,
    arg_parser,
    iso_ts,
    median,
    pct,
    print_machine,
    sse_events,
    summary,
    table,
    write_figures,
)

P99_TARGET_MS = 100.0
RSS_TARGET_MB = 400.0
TARGET_N = 100
SESSION_TIMEOUT_S = 240.0
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@dataclass
class SessionRun:
    delays_ms: list[float] = field(default_factory=list)
    wait_ms: float | None = None
    """From the stored question to turn_started: the time the turn waited for a free slot and started."""
    kinds: list[str] = field(default_factory=list)
    """The kind of each delivered event, in the order of `delays_ms`."""
    stamps: list[float] = field(default_factory=list)
    """When the server stamped each event (epoch s), in the order of `delays_ms`."""
    events: int = 0
    finished_at: float = 0.0
    error: str | None = None


async def one_session(
    client, base: str, target: str, opened: asyncio.Event, go: asyncio.Event, post_base: str | None = None
) -> SessionRun:
    """Create, open the stream, wait for the common start, post, read to turn_finished. `post_base`: post to
    (and so run the turn on) that server instead, another replica on the same database."""
    run = SessionRun()
    post_base = post_base or base
    try:
        r = await client.post(f"{post_base}/api/sessions", json={"target": target})
        r.raise_for_status()
        sid = r.json()["id"]
        async with client.stream("GET", f"{base}/api/sessions/{sid}/events") as resp:
            resp.raise_for_status()
            opened.set()
            await go.wait()
            r = await client.post(
                f"{post_base}/api/sessions/{sid}/messages", json={"content": _report(target)}
            )
            r.raise_for_status()
            await asyncio.wait_for(_read(resp, run), SESSION_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the benchmark
        run.error = f"{type(exc).__name__}: {exc}"[:200]
    return run


async def _read(resp, run: SessionRun) -> None:
    expected, asked = 1, None
    async for ev in sse_events(resp):
        body = ev.json()
        if ev.event == "user_message":
            asked = iso_ts(body["at"])
        elif ev.event == "turn_started" and asked is not None:
            run.wait_ms = (iso_ts(body["at"]) - asked) * 1000
        run.events += 1
        run.delays_ms.append((ev.t - iso_ts(body["at"])) * 1000)
        run.kinds.append(ev.event)
        run.stamps.append(iso_ts(body["at"]))
        if body["seq"] != expected:
            run.error = f"seq {body['seq']} where {expected} was expected"
            return
        expected += 1
        if ev.event == "turn_finished":
            run.finished_at = ev.t
            if body["data"]["status"] != "completed":
                run.error = f"turn ended {body['data']['status']}"
            return
    run.error = "stream ended before turn_finished"


_REPORTS: dict[str, str] = {}


def _report(target: str) -> str:
    return _REPORTS[target]


CLIENT_PROCS = 4
"""Client processes sharing the N sessions, as browsers would be separate processes. One process reading 100
streams and sending 100 POSTs in the same instant measured itself: its event loop fell 60-120 ms behind at
the start of the burst while the server had already sent the events (server-side p99 20 ms, client 178 ms)."""
SETTLE_S = 120.0


def burst(
    server: Server, n: int, targets: list[str], procs: int = CLIENT_PROCS, post_url: str | None = None
) -> dict:
    """N sessions at once, spread over `procs` client processes that post at the same instant; returns the
    row of figures. Streams read from `server`; turns run on `post_url` when given (bench/cross_replica.py)."""
    ctx = multiprocessing.get_context("spawn")  # clean children: no inherited event loop or threads
    procs = max(1, min(procs, n))
    opened, go = ctx.Barrier(procs + 1), ctx.Barrier(procs + 1)
    go_at, out = ctx.Value("d", 0.0), ctx.Queue()
    shares = [[targets[i % len(targets)] for i in range(p, n, procs)] for p in range(procs)]
    workers = [
        ctx.Process(
            target=_client,
            args=(server.url, share, dict(_REPORTS), opened, go, go_at, out, post_url),
            daemon=True,
        )
        for share in shares
    ]
    for w in workers:
        w.start()
    server.peak_rss = 0
    runs: list[SessionRun] = []
    try:
        opened.wait(SETTLE_S)  # every stream is open (or failed)
        go_at.value = time.time() + 0.05
        go.wait(30)
        for _ in workers:
            runs += [SessionRun(**r) for r in out.get(timeout=SESSION_TIMEOUT_S + 60)]
    except (threading.BrokenBarrierError, queue.Empty) as exc:
        missing = n - len(runs)
        runs += [SessionRun(error=f"client process failed: {type(exc).__name__}") for _ in range(missing)]
    finally:
        for w in workers:
            w.join(10)
            if w.is_alive():
                w.terminate()
    t0 = go_at.value
    delays = [d for r in runs for d in r.delays_ms]
    done = [r.finished_at for r in runs if r.finished_at]
    errors = [r.error for r in runs if r.error]
    waits = [r.wait_ms for r in runs if r.wait_ms is not None]
    wall = (max(done) - t0) if done else float("nan")
    tail = _tail(runs, pct(delays, 99), t0) if delays else ""
    return {
        "n": n,
        "turns_s": len(done) / wall if done else 0.0,
        "events": len(delays),
        "p50": median(delays),
        "p99": pct(delays, 99),
        "max": max(delays, default=float("nan")),
        "start_p50": median(waits),
        "start_max": max(waits, default=float("nan")),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "rss_mb": server.peak_rss / 2**20,
        "wall_s": wall,
        "tail": tail,
    }


def _tail(runs: list[SessionRun], p99: float, t0: float) -> str:
    """Which events make the slowest 1%, and when in the run the server stamped them: where to look first."""
    slow = [
        (k, at - t0)
        for r in runs
        for d, k, at in zip(r.delays_ms, r.kinds, r.stamps, strict=False)
        if d >= p99
    ]
    if not slow:
        return ""
    kinds = Counter(k for k, _ in slow).most_common(3)
    when = sorted(t for _, t in slow)
    return (
        f"slowest 1% ({len(slow)} events): "
        + ", ".join(f"{k} {c}" for k, c in kinds)
        + f"; stamped {when[0]:.2f}-{when[-1]:.2f} s after the start (median {median(when):.2f} s)"
    )


def _client(
    url: str, targets: list[str], reports: dict[str, str], opened, go, go_at, out, post_url: str | None = None
) -> None:
    """One client process: its share of the sessions, posted at `go_at`; puts its runs on `out`."""
    _REPORTS.update(reports)
    try:
        runs = asyncio.run(_client_sessions(url, targets, opened, go, go_at, post_url))
    except BaseException as exc:  # noqa: BLE001 - counted as errors by the parent
        opened.abort()
        go.abort()
        runs = [SessionRun(error=f"client: {type(exc).__name__}: {exc}"[:200]) for _ in targets]
    out.put([asdict(r) for r in runs])


async def _client_sessions(
    url: str, targets: list[str], opened_all, go_all, go_at, post_url: str | None = None
) -> list[SessionRun]:
    import httpx

    n = len(targets)
    limits = httpx.Limits(max_connections=2 * n + 10, max_keepalive_connections=2 * n + 10)
    timeout = httpx.Timeout(60.0, pool=120.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        go = asyncio.Event()
        opened = [asyncio.Event() for _ in range(n)]
        tasks = [
            asyncio.create_task(one_session(client, url, target, opened[i], go, post_url))
            for i, target in enumerate(targets)
        ]
        await _settle(tasks, opened)
        await asyncio.to_thread(opened_all.wait, SETTLE_S)
        await asyncio.to_thread(go_all.wait, 30)
        await asyncio.sleep(max(0.0, go_at.value - time.time()))
        go.set()
        return await asyncio.gather(*tasks)


async def _settle(tasks: list[asyncio.Task], opened: list[asyncio.Event], limit_s: float = SETTLE_S) -> None:
    """Wait until every session has its stream open (or has failed) before the common start."""
    deadline = time.time() + limit_s
    while time.time() < deadline and not all(
        e.is_set() or t.done() for t, e in zip(tasks, opened, strict=False)
    ):
        await asyncio.sleep(0.05)


def pg_database() -> str | None:
    """A fresh PostgreSQL database on 127.0.0.1:5432, or None when the server is not reachable."""
    try:
        import psycopg

        name = f"firstline_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: skip that backend
        print(
            f"PostgreSQL at 127.0.0.1:5432 not usable ({type(exc).__name__}: {str(exc).strip()[:120]}); skipped"
        )
        return None


def pg_drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class External:
    """A server started by someone else (`--url`), e.g. under a profiler; its RSS is not sampled."""

    def __init__(self, url: str) -> None:
        self.url, self.peak_rss, self.ready_s = url.rstrip("/"), 0, float("nan")

    def rss_now(self) -> int:
        return 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


HOSTED_SCRIPT = [
    {
        "text": "Let me look at the service and its recent log lines before anything else.",
        "calls": [("service_status", {"service": "nginx"})],
    },
    {
        "text": (
            "**Root cause**: nginx.service failed at start: another process already listens on port 80, so "
            "nginx's bind() fails with 'Address already in use' and every request gets a 503 from the load "
            "balancer.\n\n**Evidence**\n- `systemctl status nginx`: Active: failed (Result: exit-code)\n"
            "- the journal: bind() to 0.0.0.0:80 failed (98: Address already in use)\n\n**Suggested fix**\n"
            "1. Find the process on :80 with `port_owner` and stop it if it is a leftover of the last deploy "
            "(`kill_process`, needs approval).\n2. `restart_service nginx` (needs approval), then check that "
            "`systemctl status nginx` says active (running) and that the site answers 200 again."
        )
    },
]
"""What the stand-in provider says: one tool call, then a 100-word answer, streamed a word per chunk."""


def hosted_model(chunk_ms: float):
    """An OpenAI-compatible provider on 127.0.0.1 (the tests' stand-in for a paid API, real HTTP and SSE),
    streaming one word every `chunk_ms`, and the server environment that points Firstline at it."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI, model_env

    fake = FakeOpenAI(HOSTED_SCRIPT, delay_s=chunk_ms / 1000)
    return fake, model_env(fake)


def run_backend(
    label: str,
    database_url: str | None,
    sizes: list[int],
    targets: list[str],
    url: str | None = None,
    procs: int = CLIENT_PROCS,
    extra_env: dict[str, str] | None = None,
) -> list[dict]:
    rows = []
    with External(url) if url else Server(database_url=database_url, extra_env=extra_env) as server:
        print(f"\n{label}: server ready in {server.ready_s:.1f}s, RSS {server.rss_now() / 2**20:.0f} MB")
        burst(server, 2, targets, procs)  # warm-up: the first turn imports the agent loop
        for n in sizes:
            row = burst(server, n, targets, procs)
            row["backend"] = label
            rows.append(row)
            print(
                f"  N={n}: {row['turns_s']:.1f} turns/s, p99 {row['p99']:.0f} ms, errors {row['errors']}"
                + (f" (first: {row['first_error']})" if row["errors"] else ""),
                flush=True,
            )
            if row["tail"]:
                print(f"    {row['tail']}", flush=True)
    return rows


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=None, help="comma-separated session counts (default 25,50,100,200)"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="skip the SQLite run (e.g. to repeat PostgreSQL alone)"
    )
    parser.add_argument(
        "--url", help="use this running server instead of starting one (no RSS, no PostgreSQL)"
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=CLIENT_PROCS,
        help=f"client processes sharing the sessions (default {CLIENT_PROCS})",
    )
    parser.add_argument(
        "--hosted",
        action="store_true",
        help="also run SQLite with a hosted-model stand-in (OpenAI-compatible, on 127.0.0.1)",
    )
    parser.add_argument(
        "--chunk-ms",
        type=float,
        default=20.0,
        help="the stand-in's pace: one streamed chunk every N ms (default 20, i.e. 50 chunks/s)",
    )
    args = parser.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([25] if args.quick else [25, 50, 100, 200])
    )
    print_machine(f"concurrency: N sessions at once, sizes {sizes}")
    from tools.targets.sandbox import list_scenarios

    scenarios = list_scenarios()
    _REPORTS.update({f"sandbox:{s.id}": s.report for s in scenarios})
    targets = list(_REPORTS)
    rows = (
        []
        if args.no_sqlite and not args.url
        else run_backend(
            "external" if args.url else "sqlite", None, sizes, targets, args.url, args.client_procs
        )
    )
    if args.hosted and not args.url:
        fake, env = hosted_model(args.chunk_ms)
        with fake:
            rows += run_backend(
                f"sqlite, hosted model ({1000 / args.chunk_ms:g} chunks/s)",
                None,
                sizes,
                targets,
                procs=args.client_procs,
                extra_env=env,
            )
    db = None if args.no_postgres or args.url else pg_database()
    if db:
        try:
            rows += run_backend(
                "postgresql",
                f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
                sizes,
                targets,
                procs=args.client_procs,
            )
        finally:
            pg_drop(db)
    print()
    table(
        [
            "backend",
            "N",
            "turns/s",
            "events",
            "p50 ms",
            "p99 ms",
            "max ms",
            "start p50 ms",
            "start max ms",
            "errors",
            "peak RSS MB",
            "wall s",
        ],
        [
            [
                r["backend"],
                r["n"],
                r["turns_s"],
                r["events"],
                r["p50"],
                r["p99"],
                r["max"],
                r["start_p50"],
                r["start_max"],
                r["errors"],
                r["rss_mb"],
                r["wall_s"],
            ]
            for r in rows
        ],
    )
    figures = []
    for backend in dict.fromkeys(r["backend"] for r in rows):
        mine = [r for r in rows if r["backend"] == backend]
        at = next((r for r in mine if r["n"] == TARGET_N), max(mine, key=lambda r: r["n"]))
        n = at["n"]
        # The targets are for the default setup (the offline model); hosted-model runs are for information.
        aim = "hosted" not in backend
        figures += [
            Figure(
                f"SSE delivery p99 at {n} sessions ({backend})",
                at["p99"],
                "ms",
                f"< {P99_TARGET_MS:g} ms at {TARGET_N}" if aim else "",
                at["p99"] < P99_TARGET_MS if aim else None,
            ),
            Figure(f"errors at {n} sessions ({backend})", at["errors"], "", "0", at["errors"] == 0),
            Figure(
                f"server peak RSS at {n} sessions ({backend}{', with the model gateway' if not aim else ''})",
                at["rss_mb"],
                "MB",
                f"< {RSS_TARGET_MB:g} MB" if aim else "",
                at["rss_mb"] < RSS_TARGET_MB if aim else None,
            ),
            Figure(f"turns/s at {n} sessions ({backend})", at["turns_s"], "turns/s"),
            Figure(
                f"question stored to turn started, p50 / max, at {n} sessions ({backend})",
                at["start_p50"],
                f"ms / {at['start_max']:.0f} ms",
            ),
        ]
        biggest = max(mine, key=lambda r: r["n"])
        if biggest is not at:
            figures.append(
                Figure(f"SSE delivery p99 at {biggest['n']} sessions ({backend})", biggest["p99"], "ms")
            )
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "concurrency", figures, {"rows": rows})


if __name__ == "__main__":
    main()
