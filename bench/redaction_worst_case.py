"""Secret masking and model-chosen regexes on hostile input: per-rule worst cases, and /healthz meanwhile.

1. Every masking rule (tools/redact_rules.py) on inputs built to make it slow: its anchors repeated with and
   without separators, followed by long runs of the characters it accepts, the review's repeated
   `-----BEGIN RSA PRIVATE KEY-----`. Printed: the worst input per rule in ms per MB (the rules are linear, so
   this is the rate on any size). Then `redact()` as a whole on the worst of them, with its time budget.
2. A live `firstline serve` asked (through the tests' stand-in model API) to tail a 2 MB one-line log of
   repeated BEGIN lines and to grep 400 lines of 5,000 `a`s with `(a|a)*b`, while another client polls
   /healthz every 20 ms. Printed: /healthz latency p50 / p99 / max during those turns (target < 100 ms).

    python bench/redaction_worst_case.py [--quick] [--json out.json]
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchlib import ROOT, Figure, Server, arg_parser, pct, print_machine, summary, table, write_figures

MB = 1_000_000


def hostile_inputs(anchor: str, size: int) -> dict[str, str]:
    """Inputs of about `size` characters that keep a rule busy from `anchor` on."""
    a = anchor.strip() or anchor
    return {
        "anchor repeated": (a * (size // len(a) + 1))[:size],
        "anchor + space": ((a + " ") * (size // (len(a) + 1) + 1))[:size],
        "anchor + '='": ((a + "=") * (size // (len(a) + 1) + 1))[:size],
        "anchor + ': '": ((a + ": ") * (size // (len(a) + 2) + 1))[:size],
        "anchor, then letters": a + "A" * size,
        "anchor, then digits": a + "7" * size,
        "anchor + ' -u x:'": ((a + " -u x:") * (size // (len(a) + 6) + 1))[:size],
        "anchor + newline": ((a + "\n") * (size // (len(a) + 1) + 1))[:size],
    }


def per_rule(size: int) -> list[tuple[str, str, float]]:
    """(rule, its worst input, ms per MB) for every rule."""
    from tools.redact import RULES, _apply

    out = []
    for rule in RULES:
        worst = ("", 0.0)
        cases: dict[str, str] = {}
        for anchor in rule.anchors[:4]:
            for label, text in hostile_inputs(anchor, size).items():
                cases[f"{label} ({anchor.strip()})"] = text
        if rule.name == "pem":
            cases["review: repeated BEGIN RSA"] = ("-----BEGIN RSA PRIVATE KEY-----" * (size // 31 + 1))[
                :size
            ]
        for label, text in cases.items():
            low = text.lower()
            t0 = time.perf_counter()
            _apply(rule, text, low, float("inf"))
            ms_per_mb = (time.perf_counter() - t0) * 1000 * MB / len(text)
            if ms_per_mb > worst[1]:
                worst = (label, ms_per_mb)
        out.append((rule.name, worst[0], worst[1]))
    return out


class Poller(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.latencies, self.errors = url, threading.Event(), [], 0

    def run(self) -> None:
        import httpx

        with httpx.Client(timeout=30) as c:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    c.get(self.url + "/healthz")
                    self.latencies.append((time.perf_counter() - t0) * 1000)
                except httpx.HTTPError:
                    self.errors += 1
                time.sleep(0.02)


def live(quick: bool, hostile: bool = True) -> tuple[list[float], int, float]:
    """/healthz latencies (ms) while the server masks a hostile log and greps with a catastrophic regex (or,
    `hostile=False`, runs the same turns on small ordinary logs: the machine's own baseline)."""
    import httpx

    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI, model_env

    logs = Path(tempfile.mkdtemp(prefix="firstline-bench-logs-"))
    if hostile:
        (logs / "keys.log").write_text("-----BEGIN RSA PRIVATE KEY-----" * (2 * MB // 31) + "\n")
        (logs / "aaaa.log").write_text(("a" * 5000 + "\n") * 400)
    else:
        (logs / "keys.log").write_text("GET /health 200\n" * 5)
        (logs / "aaaa.log").write_text("ok\n" * 400)
    script = [
        {
            "text": "Reading.",
            "calls": [
                ("log_tail", {"source": "keys.log", "lines": 5}),
                ("log_tail", {"source": "aaaa.log", "lines": 400, "grep": "(a|a)*b"}),
            ],
        },
        {"text": "Done."},
    ]
    rounds = 2 if quick else 5
    with FakeOpenAI(script=script, delay_s=0.0) as fake:
        env = {**model_env(fake), "FIRSTLINE_TARGETS__LOG_ROOTS": json.dumps([str(logs)])}
        with Server(extra_env=env) as server, httpx.Client(base_url=server.url, timeout=120) as c:

            def turn() -> None:
                sid = c.post("/api/sessions", json={"target": "local"}).json()["id"]
                c.post(f"/api/sessions/{sid}/messages", json={"content": "what is in the logs?"})
                while c.get(f"/api/sessions/{sid}").json()["status"] == "running":
                    time.sleep(0.05)

            turn()  # warm: start-up imports (agent loop, model gateway, masking worker) are not what this measures
            time.sleep(3)
            poller = Poller(server.url)
            poller.start()
            t0 = time.perf_counter()
            for _ in range(rounds):
                turn()
            wall = time.perf_counter() - t0
            poller.stop.set()
            poller.join(30)
    return poller.latencies, poller.errors, wall


def main() -> None:
    args = arg_parser(__doc__.split("\n")[0]).parse_args()
    print_machine("secret masking and user regexes on hostile input")
    size = 200_000 if args.quick else MB
    rows = per_rule(size)
    print(f"\nper rule, worst of its hostile inputs ({size / MB:g} MB each):")
    table(
        ["rule", "worst input", "ms per MB"],
        [(n, label, round(ms, 1)) for n, label, ms in sorted(rows, key=lambda r: -r[2])],
    )
    from tools.redact import redact

    worst = "-----BEGIN RSA PRIVATE KEY-----" * (2 * MB // 31)
    t0 = time.perf_counter()
    redact(worst)
    whole = time.perf_counter() - t0
    print(f"\nredact() on the review's 2 MB one-line log: {whole * 1000:.0f} ms (before: about 23 s)")
    base, _, base_wall = live(args.quick, hostile=False)
    print(
        f"\n/healthz during {base_wall:.1f} s of the same turns on ordinary logs (baseline): {len(base)} polls, "
        f"p50 {pct(base, 50):.1f} ms, p99 {pct(base, 99):.1f} ms, max {max(base):.1f} ms"
    )
    latencies, errors, wall = live(args.quick)
    p50, p99, mx = pct(latencies, 50), pct(latencies, 99), max(latencies)
    print(
        f"/healthz during {wall:.1f} s of masking 2 MB of BEGIN lines and grepping (a|a)*b: "
        f"{len(latencies)} polls, {errors} errors, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {mx:.1f} ms"
    )
    figures = [
        Figure("slowest masking rule on its worst input", max(r[2] for r in rows), "ms/MB"),
        Figure("redact() on a 2 MB line of BEGIN RSA PRIVATE KEY", whole * 1000, "ms"),
        Figure(
            "/healthz max while masking and grepping hostile input",
            mx,
            "ms",
            "< 100 ms",
            mx < 100 and not errors,
        ),
        Figure("/healthz p99 while masking and grepping hostile input", p99, "ms"),
        Figure("/healthz max during the same turns on ordinary logs (baseline)", max(base), "ms"),
    ]
    print()
    for fig in figures:
        summary(fig)
    write_figures(args.json, "redaction_worst_case.py", figures)


if __name__ == "__main__":
    main()
