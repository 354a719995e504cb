"""SSH target round trips: connect, each read tool warm, client memory per open connection.

A real sshd on a random loopback port (tests/sshd.py: Debian's openssh-server, generated keys; as
root it logs in the user made by .ci/sshd.sh). Cold: a fresh target's first call, host-key check,
key exchange and login included. Warm: the same target's later calls over its reused connection.
Memory: Python heap (tracemalloc) per connected target, over 20 held open at once.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc

from benchlib import ROOT, Figure, arg_parser, median, pct, print_machine, summary, table, write_figures

CALLS: list[tuple[str, dict]] = [
    ("port_owner", {"port": 0}),
    ("process_list", {"match": "sshd"}),
    ("log_tail", {"source": "app.log"}),
    ("disk_usage", {"path": "/"}),
    ("service_status", {"service": "sshd"}),
    ("dns_lookup", {"name": "localhost"}),
    ("host_resources", {}),
]


def _start():
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from sshd import start_sshd  # type: ignore[import-not-found]  # tests/ is put on sys.path just above

    return start_sshd()


def _config(server):
    from tools.targets.base import SshConfig, TargetConfig

    return TargetConfig(
        log_roots=[server.logs], ssh=SshConfig(known_hosts=server.known_hosts, key_file=server.client_key)
    )


async def _timed(target, name: str, args: dict) -> float:
    from tools.runner import run_tool

    t0 = time.perf_counter()
    r = await run_tool(target, name, args)
    if r.status not in ("ok", "no_data") and not (name == "port_owner" and r.exit_code == 1):
        raise SystemExit(f"{name} failed over ssh: {r.error or r.output[:200]}")
    return (time.perf_counter() - t0) * 1000


async def measure(server, repeats: int) -> tuple[list[float], dict[str, list[float]], float]:
    from tools.targets import open_target

    cfg = _config(server)
    (server.logs / "app.log").write_text("".join(f"line {i}\n" for i in range(200)))
    calls: list[tuple[str, dict]] = [(n, {"port": server.port} if n == "port_owner" else a) for n, a in CALLS]
    cold = []
    for _ in range(max(3, repeats // 5)):
        t = open_target(server.target, cfg)
        cold.append(await _timed(t, "disk_usage", {"path": "/"}))
        await t.aclose()
    warm: dict[str, list[float]] = {n: [] for n, _ in calls}
    t = open_target(server.target, cfg)
    await _timed(t, "disk_usage", {"path": "/"})
    for _ in range(repeats):
        for name, args in calls:
            warm[name].append(await _timed(t, name, args))
    await t.aclose()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = [open_target(server.target, cfg) for _ in range(20)]
    for h in held:
        await _timed(h, "disk_usage", {"path": "/"})
    per_conn = (tracemalloc.get_traced_memory()[0] - before) / len(held)
    tracemalloc.stop()
    for h in held:
        await h.aclose()
    return cold, warm, per_conn


def main() -> None:
    args = arg_parser(__doc__.splitlines()[0]).parse_args()
    print_machine("ssh target round trips (loopback sshd)")
    server = _start()
    try:
        cold, warm, per_conn = asyncio.run(measure(server, 5 if args.quick else 20))
    finally:
        server.stop()
    table(
        ["tool (warm)", "p50 ms", "p95 ms", "n"],
        [[n, median(v), pct(v, 95), len(v)] for n, v in warm.items()],
    )
    warm_reads = [x for n, v in warm.items() if n != "host_resources" for x in v]
    figures = [
        Figure("ssh: first call on a new connection (host key, kex, login), median", median(cold), "ms"),
        Figure(
            "ssh: warm read tool call p50 (reused connection, host_resources excluded)",
            median(warm_reads),
            "ms",
        ),
        Figure("ssh: warm read tool call p95", pct(warm_reads, 95), "ms"),
        Figure("ssh: client Python heap per open connection", per_conn / 1024, "KiB"),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "ssh_roundtrip", figures)


if __name__ == "__main__":
    main()
