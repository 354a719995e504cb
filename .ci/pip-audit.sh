#!/usr/bin/env bash
# Known vulnerabilities in the locked dependencies (requirements.lock, requirements-dev.lock), from PyPI's
# advisory feed (pip-audit, installed by the dev lock). Needs no install: --disable-pip reads the hashed locks.
#   - advisories found: the list is printed and CI fails (bump the pin in requirements.in/.lock; a finding
#     with no fixed release yet can be accepted explicitly with PIP_AUDIT_IGNORE="GHSA-… PYSEC-…", which
#     is printed on every run so it is never silent);
#   - the advisory service cannot be reached (no network): says it could NOT check and does not fail CI;
#   - anything else pip-audit reports as an error fails CI with its message.
set -uo pipefail
cd "$(dirname "$0")/.."
PIP_AUDIT="${PIP_AUDIT:-pip-audit}"
if ! command -v "$PIP_AUDIT" >/dev/null 2>&1; then
  [ -x .venv/bin/pip-audit ] && PIP_AUDIT=.venv/bin/pip-audit \
    || { echo "pip-audit: not installed (requirements-dev.lock); dependencies were NOT checked"; exit 0; }
fi
ignore=()
for id in ${PIP_AUDIT_IGNORE:-}; do ignore+=(--ignore-vuln "$id"); echo "pip-audit: accepting $id (PIP_AUDIT_IGNORE)"; done
status=0
for lock in requirements.lock requirements-dev.lock; do
  report="$("$PIP_AUDIT" --require-hashes --disable-pip --progress-spinner off --timeout 20 -f json \
    "${ignore[@]}" -r "$lock" 2>/tmp/pip-audit-$$.err)"
  if [ -z "$report" ]; then
    echo "pip-audit: $lock: could NOT check: the advisory service did not answer (no network?); not a clean bill"
    tail -n 3 /tmp/pip-audit-$$.err | sed 's/^/  /'
  else
    printf '%s' "$report" | python3 .ci/pip_audit_report.py "$lock" || status=1
  fi
  rm -f /tmp/pip-audit-$$.err
done
exit "$status"
