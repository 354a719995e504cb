#!/usr/bin/env bash
# Debian's packages the tests use, in one apt transaction (one `apt-get update`, not one per package):
# chromium (browser tests), openssh-server (ssh target), prometheus (metrics tests), iproute2 and
# util-linux (network and PID namespaces). Only what is missing is installed; each absent one makes its
# tests skip with a reason, never fail.
set -uo pipefail
want=() lean=()
command -v chromium >/dev/null 2>&1 || want+=(chromium)
[ -x /usr/sbin/sshd ] || want+=(openssh-server)
command -v ip >/dev/null 2>&1 || want+=(iproute2)
command -v unshare >/dev/null 2>&1 || want+=(util-linux)
command -v prometheus >/dev/null 2>&1 || lean+=(prometheus)  # without its recommended exporters
if [ $(( ${#want[@]} + ${#lean[@]} )) -gt 0 ]; then
  if apt-get update -qq; then
    export DEBIAN_FRONTEND=noninteractive
    [ ${#want[@]} -eq 0 ] || apt-get install -y -qq "${want[@]}" >/dev/null \
      || echo "ci: could not install ${want[*]}; the tests that need them will skip"
    [ ${#lean[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null \
      || echo "ci: could not install ${lean[*]}; the tests that need them will skip"
  else
    echo "ci: apt-get update failed; ${want[*]} ${lean[*]} not installed, the tests that need them will skip"
  fi
fi
exit 0
