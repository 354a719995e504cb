#!/usr/bin/env bash
# Lint and types, as CI enforces them: ruff (explicit rule selection in pyproject.toml), ruff format,
# import-linter (tools <- assistant <- web/evals <- cli; no import cycles), mypy against a baseline that only
# shrinks (.ci/mypy-baseline.txt), and ESLint on web/static from its npm lock. Run from the repo root
# with the project's venv active.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
step() { echo "== $1"; shift; "$@" || status=1; }
step "ruff check" ruff check --output-format concise .
step "ruff format --check" ruff format --check .
step "import-linter" lint-imports --no-cache
step "mypy (baseline)" python .ci/mypy_baseline.py
if command -v npm >/dev/null 2>&1; then
  (cd .ci/eslint && npm ci --no-audit --no-fund --silent) || echo "lint: npm ci failed; ESLint not run"
  if [ -x .ci/eslint/node_modules/.bin/eslint ]; then
    step "eslint web/static" .ci/eslint/node_modules/.bin/eslint --config .ci/eslint/eslint.config.js web/static
  fi
else
  echo "lint: npm is not installed; ESLint not run on web/static"
fi
exit $status
