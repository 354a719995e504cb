#!/usr/bin/env bash
# The SSH target's tests start their own sshd (Debian's openssh-server) on a random high port.
# Installs it, and as root adds the unprivileged login user those tests use. Idempotent, quick when done.
set -uo pipefail
if [ ! -x /usr/sbin/sshd ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null) \
    || echo "ci: openssh-server could not be installed; the ssh target tests will skip"
fi
if [ "$(id -u)" = 0 ]; then
  mkdir -p /run/sshd && chmod 0755 /run/sshd
  if ! id fl-sshtest >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh fl-sshtest || echo "ci: could not add user fl-sshtest; ssh tests will skip"
  fi
  # '*' (no password, not locked): sshd without PAM refuses even key logins to a locked ('!') account.
  usermod -p '*' fl-sshtest 2>/dev/null || true
fi
