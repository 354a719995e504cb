#!/usr/bin/env bash
# The replica tests (tests/test_replicas.py) give each `firstline serve` a hostname and a PID namespace of its
# own with util-linux's `unshare` (root). Idempotent; says what it could not do (those tests then skip).
set -uo pipefail
if ! command -v unshare >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux >/dev/null) \
    || echo "ci: util-linux (unshare) could not be installed; the replica tests will skip"
fi
if ! unshare --uts --pid --fork --mount-proc --kill-child -- true 2>/dev/null; then
  echo "ci: cannot create UTS/PID namespaces here (needs root); the replica tests will skip"
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "ci: PostgreSQL is not reachable on 127.0.0.1:5432; the replica and LISTEN/NOTIFY tests will skip"
fi
exit 0
