#!/usr/bin/env bash
# Debian's Prometheus for tests/test_prometheus.py (a real scrape of a real `firstline serve`). The test runs
# /usr/bin/prometheus itself with a config of its own; the packaged service is not needed, nor started here.
set -uo pipefail
if command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null); then
  echo "ci: prometheus could not be installed; tests/test_prometheus.py will skip"
fi
exit 0
