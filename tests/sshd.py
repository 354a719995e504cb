"""A real OpenSSH server for the ssh target's tests: Debian's sshd on a random loopback port.

Everything it needs is generated in a fresh directory: a host key, a user key, an
authorized_keys file, a known_hosts line for the host key, and an sshd_config. Run as
root it logs in the unprivileged user `fl-sshtest` (made by .ci/sshd.sh); otherwise
sshd runs as the current user and logs that user in. A `shim` directory comes first
on the sessions' PATH so a test can put a misbehaving command there (a `df` that hangs
on one path, like a stale NFS mount does).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
TEST_USER = "fl-sshtest"


def keygen(path: Path, comment: str = "fl-test") -> str:
    """A fresh ed25519 key pair at `path` (no passphrase); its public line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )
    return path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _banner(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-2.0"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class Sshd:
    dir: Path
    port: int
    user: str
    home: str
    uid: int
    gid: int
    host_key_line: str
    """`ssh-ed25519 AAAA…` of the server's host key."""
    client_key: Path
    known_hosts: Path
    """Trusts exactly this server's host key at [127.0.0.1]:port."""
    logs: Path
    """A log root the login user can read; tests write files here."""
    shim: Path
    proc: subprocess.Popen

    @property
    def target(self) -> str:
        return f"ssh:{self.user}@127.0.0.1:{self.port}"

    @property
    def python(self) -> str:
        """A Python the login user may run (this venv's may live in a directory only root can enter)."""
        if not self.as_user():
            return sys.executable
        return shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-lf", str(self.dir / "host_key.pub")], check=True, capture_output=True, text=True
        )
        return out.stdout.split()[1]

    def as_user(self) -> dict:
        """Popen keyword arguments that run a process as the login user (who owns its sockets)."""
        if os.geteuid() != 0 or self.uid == 0:
            return {}
        return {
            "user": self.uid,
            "group": self.gid,
            "extra_groups": [],
        }  # all of them, or ss may not look inside

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _login_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pytest.skip(f"user {TEST_USER} is missing: run .ci/sshd.sh (as root) first")


def _config(d: Path, port: int, user: str) -> Path:
    cfg = d / "sshd_config"
    cfg.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile none\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        f"KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAllowUsers {user}\n"
        f"SetEnv PATH={d / 'shim'}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\nLogLevel ERROR\n"
        "MaxStartups 50\n"
    )
    return cfg


def start_sshd() -> Sshd:
    """Start sshd (a few tries: the random port can be taken between choosing and binding)."""
    if not (os.path.exists(SSHD) and shutil.which("ssh-keygen")):
        pytest.skip("openssh-server is not installed: run .ci/sshd.sh")
    account = _login_user()
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="fl-sshd-"))
    d.chmod(0o755)  # the login user reads authorized_keys, the logs and the shim from here
    host_key_line = keygen(d / "host_key", "fl-test-host")
    client_pub = keygen(d / "client_key", "fl-test-client")
    (d / "authorized_keys").write_text(client_pub + "\n")
    (d / "authorized_keys").chmod(0o644)
    for sub in ("logs", "shim"):
        (d / sub).mkdir(mode=0o755)
        (d / sub).chmod(0o755)
    for _ in range(5):
        port = _free_port()
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(_config(d, port, account.pw_name))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _banner(port, 10):
            known = d / "known_hosts"
            known.write_text(f"[127.0.0.1]:{port} {host_key_line.rsplit(' ', 1)[0]}\n")
            return Sshd(
                dir=d,
                port=port,
                user=account.pw_name,
                home=account.pw_dir,
                uid=account.pw_uid,
                gid=account.pw_gid,
                host_key_line=host_key_line,
                client_key=d / "client_key",
                known_hosts=known,
                logs=d / "logs",
                shim=d / "shim",
                proc=proc,
            )
        proc.kill()
        proc.wait()
    shutil.rmtree(d, ignore_errors=True)
    pytest.skip("sshd did not start on a random loopback port")
