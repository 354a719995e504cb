"""Cross-replica delivery: two `firstline serve` replicas on one PostgreSQL (127.0.0.1:5432); every session's
stream is read from replica B while its turn runs on replica A, N sessions posting at once.

    python bench/cross_replica.py [--sessions 50] [--rounds 1] [--json PATH]
    python bench/cross_replica.py --decisions 30 [--json PATH]


Event lag = client receive time on B's stream - the event's `at`, stamped by A just before its commit (one
machine, one clock): A's commit, PostgreSQL's NOTIFY, B's LISTEN connection, B's catch-up query and the SSE
write. Errors as in bench/concurrency.py (lost, duplicated or reordered events, unfinished turns).
`--decisions N`: instead, approval and cancel latency across replicas (bench/decisions.py).
"""

from __future__ import annotations

from benchlib import Figure, Server, arg_parser, print_machine, summary, table, write_figures
from concurrency import _REPORTS, burst, pg_database, pg_drop

P99_TARGET_MS = 100.0


def main() -> None:
    parser = arg_parser(__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions (default 50)")
    parser.add_argument("--rounds", type=int, default=1, help="bursts to run after the warm-up (default 1)")
    parser.add_argument(
        "--decisions",
        type=int,
        default=0,
        metavar="N",
        help="approve N and cancel N turns on B that run on A",
    )
    args = parser.parse_args()
    if args.decisions:
        decisions_main(args.decisions, args.json)
        return
    print_machine(f"cross-replica delivery: {args.sessions} sessions, turns on A, streams on B")
    from tools.targets.sandbox import list_scenarios

    _REPORTS.update({f"sandbox:{s.id}": s.report for s in list_scenarios()})
    targets = list(_REPORTS)
    db = pg_database()
    if db is None:
        return
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    rows = []
    try:
        with Server(database_url=url) as a, Server(database_url=url) as b:
            print(f"replica A ready in {a.ready_s:.1f}s, replica B in {b.ready_s:.1f}s")
            burst(b, 2, targets, post_url=a.url)  # warm-up: the first turn imports the agent loop
            for _ in range(max(1, args.rounds)):
                row = burst(b, args.sessions, targets, post_url=a.url)
                rows.append(row)
                print(
                    f"  N={row['n']}: p50 {row['p50']:.1f} ms, p99 {row['p99']:.1f} ms, errors {row['errors']}"
                    + (f" (first: {row['first_error']})" if row["errors"] else ""),
                    flush=True,
                )
                if row["tail"]:
                    print(f"    {row['tail']}", flush=True)
    finally:
        pg_drop(db)
    table(
        ["N", "turns/s", "events", "p50 ms", "p99 ms", "max ms", "errors"],
        [[r["n"], r["turns_s"], r["events"], r["p50"], r["p99"], r["max"], r["errors"]] for r in rows],
    )
    worst = max(rows, key=lambda r: r["p99"])
    figures = [
        Figure(
            f"cross-replica event lag p50 at {worst['n']} sessions (postgresql, LISTEN/NOTIFY)",
            worst["p50"],
            "ms",
        ),
        Figure(
            f"cross-replica event lag p99 at {worst['n']} sessions (postgresql, LISTEN/NOTIFY)",
            worst["p99"],
            "ms",
            f"< {P99_TARGET_MS:g} ms at 50",
            worst["p99"] < P99_TARGET_MS,
        ),
        Figure(
            f"cross-replica errors at {worst['n']} sessions", worst["errors"], "", "0", worst["errors"] == 0
        ),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "cross_replica", figures, {"rows": rows})


def decisions_main(n: int, json_path: str | None) -> None:
    import decisions

    print_machine(f"cross-replica decisions: {n} approvals and {n} cancels on B of turns running on A")
    db = pg_database()
    if db is None:
        return
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    try:
        with Server(database_url=url) as a, Server(database_url=url) as b:
            print(f"replica A ready in {a.ready_s:.1f}s, replica B in {b.ready_s:.1f}s")
            decisions.run(a.url, b.url, url, 2)  # warm-up: the first turn imports the agent loop
            row = decisions.run(a.url, b.url, url, n)
    finally:
        pg_drop(db)
    table(
        [
            "N",
            "approve p50 ms",
            "approve p99 ms",
            "approve max ms",
            "cancel p50 ms",
            "cancel p99 ms",
            "cancel max ms",
        ],
        [
            [
                row["n"],
                row["approve_p50"],
                row["approve_p99"],
                row["approve_max"],
                row["cancel_p50"],
                row["cancel_p99"],
                row["cancel_max"],
            ]
        ],
    )
    figures = [
        Figure("cross-replica approval latency p50 (decision on B, turn on A)", row["approve_p50"], "ms"),
        Figure("cross-replica approval latency p99 (decision on B, turn on A)", row["approve_p99"], "ms"),
        Figure("cross-replica cancel latency p50 (cancel on B, turn on A)", row["cancel_p50"], "ms"),
        Figure("cross-replica cancel latency p99 (cancel on B, turn on A)", row["cancel_p99"], "ms"),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(json_path, "cross_replica_decisions", figures, {"rows": [row]})


if __name__ == "__main__":
    main()
