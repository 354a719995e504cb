#!/usr/bin/env bash
# The node tests make hosts with `ip netns`, veth pairs and a bridge (iproute2), and give each host its own
# process table with `unshare --pid --mount-proc` (util-linux). Idempotent; says what it could not do.
set -u
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "ci: could not install ${missing[*]}; the node tests that need network namespaces will skip"
fi
if [ "$(id -u)" != 0 ]; then
  echo "ci: not root; the node tests that need network namespaces will skip"
fi
exit 0
