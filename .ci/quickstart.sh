#!/usr/bin/env bash
# Runs the README's Quick start word for word in a fresh clone of this checkout, with a venv from
# `python3 -m venv` and the pip it ships, until `firstline serve` answers /healthz. Fails if it doesn't.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cmd="$(python3 "$repo/.ci/readme_command.py" quickstart "$repo/README.md")"
work="$(mktemp -d)"
trap 'kill -- -"${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/firstline"
cd "$work/firstline"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
start=$(date +%s)
# A new process group, so the trap ends the server and everything it started.
FIRSTLINE_PORT="$port" FIRSTLINE_DATABASE_URL="sqlite:///$work/firstline.db" setsid bash -c "$cmd" >"$work/quickstart.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "quickstart: README command served /healthz after $(( $(date +%s) - start )) s (fresh clone, stock pip)"
    grep -E "^(scenario|[0-9]+/[0-9]+|diagnosed)" "$work/quickstart.log" | tail -3 || true
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 1
done
echo "quickstart: the README's Quick start did not reach a healthy server; its output:" >&2
tail -40 "$work/quickstart.log" >&2
exit 1
