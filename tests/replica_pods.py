"""`firstline serve` processes that look like Kubernetes pods: a hostname of their own (`unshare --uts`) and,
by default, a PID namespace of their own (`--pid --fork --mount-proc`, so each server is PID 1, as in a
container). Root only; `pods_available()` says whether this machine allows it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from conftest import ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
FIRSTLINE = str(Path(sys.executable).with_name("firstline"))
WITH_HOSTNAME = str(Path(__file__).with_name("with_hostname.py"))
NAMESPACES = ["--pid", "--fork", "--mount-proc", "--kill-child"]


def pods_available() -> str | None:
    """None when pods can be started here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--uts", *NAMESPACES, "--", "true"], capture_output=True, timeout=10, check=False
    )
    if probe.returncode != 0:
        return f"cannot create UTS/PID namespaces here (root needed): {probe.stderr.decode()[:200]}"
    return None


class Pod(ServerProcess):
    """`firstline serve` in a UTS (and by default PID) namespace of its own, named `hostname`."""

    def __init__(
        self, hostname: str | None, env: dict[str, str], log_dir: Path, *, own_pids: bool = True
    ) -> None:
        """`hostname=None`: a plain `firstline serve`, no namespaces."""
        super().__init__(env, log_dir / f"{hostname or 'serve'}-{free_port()}.log")
        self.hostname, self.own_pids = hostname, own_pids and hostname is not None
        self.name = hostname or "serve"

    def argv(self) -> list[str]:
        argv = [FIRSTLINE, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.hostname is None:
            return argv
        return [
            "unshare",
            "--uts",
            *(NAMESPACES if self.own_pids else []),
            "--",
            sys.executable,
            WITH_HOSTNAME,
            self.hostname,
            *argv,
        ]

    def server_pid(self) -> int:
        """The server's pid as this machine sees it (inside its own namespace it is 1)."""
        assert self.proc is not None
        if not self.own_pids:
            return self.proc.pid
        children = psutil.Process(self.proc.pid).children()
        assert children, "the pod's server process is gone"
        return children[0].pid

    def signal(self, sig: int) -> None:
        os.kill(self.server_pid(), sig)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.signal(signal.SIGTERM)
            self.proc.wait(40)
        except (subprocess.TimeoutExpired, AssertionError, psutil.Error, ProcessLookupError):
            self.proc.kill()
            self.proc.wait(10)
