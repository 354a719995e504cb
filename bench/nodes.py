"""200 simulated nodes connected to one server: memory per node, tool round trip, reconnect storm.

The restart stops the server (every link drops, every node starts backing off), keeps it down for
`--down-s` seconds like a process restart would, then serves again on the same port; the storm figure is
the time from going down until every node is connected again.

The nodes are real `firstline node` protocol clients (`tools.node.agent.run_node`, the code a host runs),
shared by a few client processes. The server runs in this process (the same app `firstline serve` runs,
under uvicorn on 127.0.0.1), so calls are issued through its real node router and hub, over the real
WebSocket links, to be answered by the nodes' real tools (`disk_usage /`: a small output).

    python bench/nodes.py [--quick] [--nodes 200] [--procs 4] [--calls 1000] [--json PATH]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    LOOPBACK,
    ROOT,
    Figure,
    arg_parser,
    free_port,
    median,
    pct,
    print_machine,
    summary,
    table,
    write_figures,
)

TOOL, ARGS = "disk_usage", {"path": "/"}


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def enroll_all(settings, count: int, port: int) -> list[dict]:
    """Tokens for sim-000..; one node config (as a dict) each."""
    from assistant import store
    from assistant.nodes import registry
    from assistant.nodes.signing import public_key

    engine = store.open_store(settings.db_url)
    key = public_key(settings)
    configs = []
    with store.writing(engine) as db:
        for i in range(count):
            name = f"sim-{i:03d}"
            token = registry.enroll(db, name=name, labels={"role": "sim", "shard": str(i % 4)}).token
            configs.append(
                {"server": f"http://{LOOPBACK}:{port}", "name": name, "token": token, "server_key": key}
            )
    engine.dispose()
    return configs


async def _serve(settings, port: int):
    import uvicorn

    from web.app import create_app

    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host=LOOPBACK, port=port, log_level="error", lifespan="on", ws_ping_interval=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return app.state.runtime, server, task


async def _until(predicate, timeout_s: float, step_s: float = 0.02) -> float:
    t0 = time.perf_counter()
    while not predicate():
        if time.perf_counter() - t0 > timeout_s:
            raise TimeoutError
        await asyncio.sleep(step_s)
    return time.perf_counter() - t0


async def _round_trips(router, names: list[str], calls: int, concurrency: int) -> list[float]:
    times: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            result, _ = await router.call(names[i % len(names)], TOOL, ARGS, None, 10.0)
            times.append((time.perf_counter() - t0) * 1000)
            assert result.get("ok"), result

    await asyncio.gather(*(one(i) for i in range(calls)))
    return times


def _workers(configs: list[dict], procs: int, tmp: Path) -> list[subprocess.Popen]:
    out = []
    for k in range(procs):
        path = tmp / f"nodes-{k}.json"
        path.write_text(json.dumps(configs[k::procs]))
        env = {key: v for key, v in os.environ.items() if "proxy" not in key.lower()}
        out.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__)), "--worker", str(path)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return out


def worker(path: str) -> None:
    """One client process: its share of the nodes, each a real node connection loop."""
    from tools.node.agent import run_node
    from tools.node.config import NodeConfig

    configs = [
        NodeConfig.model_validate({**c, "policy": {"allow_tools": [TOOL]}})
        for c in json.loads(Path(path).read_text())
    ]

    async def main() -> None:
        await asyncio.gather(*(run_node(c) for c in configs))

    asyncio.run(main())


async def bench(n: int, procs: int, calls: int, down_s: float) -> list[Figure]:
    from assistant.config import Settings

    tmp = Path(tempfile.mkdtemp(prefix="firstline-bench-nodes-"))
    settings = Settings(home=tmp, database_url=f"sqlite:///{tmp / 'firstline.db'}")
    port = free_port()
    configs = enroll_all(settings, n, port)
    runtime, server, task = await _serve(settings, port)
    await asyncio.sleep(1.0)  # the server's warm-up (agent loop, tiktoken) in its thread
    rss0 = _rss_mb()
    workers = _workers(configs, procs, tmp)
    try:
        connect_s = await _until(lambda: len(runtime.node_hub.links) == n, 120)
        await asyncio.sleep(2.0)
        rss1 = _rss_mb()
        router = await runtime.node_router()
        names = sorted(runtime.node_hub.links)
        await _round_trips(router, names, 50, 1)  # warm-up
        serial = await _round_trips(router, names, calls // 2, 1)
        loaded = await _round_trips(router, names, calls, 16)
        server.should_exit = True
        await task
        t_down = time.perf_counter()
        await asyncio.sleep(down_s)  # a real restart: the process is gone a while (cold start is ~1.4 s)
        runtime, server, task = await _serve(settings, port)
        t_up = time.perf_counter()
        back_s = await _until(lambda: len(runtime.node_hub.links) == n, 60)
        total_s = time.perf_counter() - t_down
        server.should_exit = True
        await task
    finally:
        for w in workers:
            w.kill()
            w.wait(10)
    per_node_kb = (rss1 - rss0) * 1024 / n
    table(
        ["figure", "value"],
        [
            ["nodes connected", n],
            ["first connect of all nodes (s)", connect_s],
            ["server RSS before / after (MB)", f"{rss0:.0f} / {rss1:.0f}"],
            ["memory per connected node (KB)", per_node_kb],
            ["round trip p50 / p99, one at a time (ms)", f"{median(serial):.2f} / {pct(serial, 99):.2f}"],
            ["round trip p50 / p99, 16 in flight (ms)", f"{median(loaded):.2f} / {pct(loaded, 99):.2f}"],
            ["server down for (s)", t_up - t_down],
            [
                "all nodes back after restart: from listening / from going down (s)",
                f"{back_s:.2f} / {total_s:.2f}",
            ],
        ],
    )
    return [
        Figure(f"memory per connected node ({n} nodes)", per_node_kb, "KB"),
        Figure("node tool round trip p50 (small output, one at a time)", median(serial), "ms"),
        Figure(
            "node tool round trip p99 (small output, one at a time)",
            pct(serial, 99),
            "ms",
            "< 50 ms",
            pct(serial, 99) < 50,
        ),
        Figure(
            "node tool round trip p99 (16 in flight)", pct(loaded, 99), "ms", "< 50 ms", pct(loaded, 99) < 50
        ),
        Figure(f"all {n} nodes back after a server restart", total_s, "s", "< 10 s", total_s < 10),
    ]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return
    p = arg_parser(__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--procs", type=int, default=4, help="client processes sharing the simulated nodes")
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--down-s", type=float, default=2.0, help="how long the server stays down when restarted")
    opts = p.parse_args()
    n, calls = (50, 200) if opts.quick else (opts.nodes, opts.calls)
    print_machine(f"nodes: {n} simulated nodes in {opts.procs} processes, one server")
    figures = asyncio.run(bench(n, opts.procs, calls, opts.down_s))
    for fig in figures:
        summary(fig)
    write_figures(opts.json, "nodes.py", figures)


if __name__ == "__main__":
    main()
