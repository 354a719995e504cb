"""One SSH connection to one host: who to dial, which host key to trust, how a command is sent.

asyncssh speaks the protocol (no `ssh` binary is run). The host key must already be in
known_hosts; an unknown or changed key is refused with its fingerprint and the command
to add it once an engineer has checked it. Each command is a fixed argv list, joined
with `shlex.join` because the remote side hands it to the login shell: quoting is the
safety boundary, so every argument arrives as one literal word. The remote `timeout`
stops a hung command on the host; a local deadline closes the channel if the host hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tools.host.proc import OUTPUT_LIMIT, QUIET_ENV, ProcOutput, read_capped
from tools.targets.base import SshConfig, TargetError
from tools.validate import Host

REMOTE_ENV = [f"{k}={v}" for k, v in {**QUIET_ENV, "TZ": "UTC"}.items()]
"""Set on the host by `env` before every command: no pager or colours, one locale, times in UTC."""
KILL_AFTER_S = 1
"""The remote `timeout` sends SIGKILL this long after SIGTERM."""
MAX_CHANNELS = 8
"""Commands in flight at once on one connection: OpenSSH's sshd allows 10 sessions per connection (MaxSessions)."""
CHANNEL_TRIES = 5
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_HOST = TypeAdapter(Host)


class RemoteTimeout(TargetError):
    """A remote command did not finish in time and was stopped."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "timeout")


@dataclass(frozen=True)
class SshAddress:
    """`[user@]host[:port]`; IPv6 in brackets when a port follows (`[::1]:2222`)."""

    host: str
    port: int = 22
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> SshAddress:
        user, _, hostport = text.rpartition("@")
        if "@" in text and not _USER.match(user):
            raise TargetError(f"ssh:{text}: {user!r} is not a valid user name")
        host, port = _split_port(text, hostport)
        try:
            host = _HOST.validate_python(host)
        except ValidationError:
            raise TargetError(f"ssh:{text}: {host!r} is not a valid hostname or IP address") from None
        return cls(host=host, port=port, user=user or None)

    @property
    def known_hosts_name(self) -> str:
        """How OpenSSH writes this host in known_hosts."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def _split_port(text: str, hostport: str) -> tuple[str, int]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else "x")
    elif hostport.count(":") == 1:
        host, _, port = hostport.partition(":")
    else:
        host, port = hostport, ""
    if not port:
        return host, 22
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise TargetError(f"ssh:{text}: the port must be a number 1-65535")
    return host, int(port)


def remote_command(argv: list[str], timeout_s: float) -> str:
    """The exact line the host's shell receives: `timeout … env K=V … argv`, every word quoted."""
    if not argv or any("\x00" in a for a in argv):
        raise TargetError("a remote command must be a non-empty argv without NUL bytes")
    return shlex.join(["timeout", "-k", str(KILL_AFTER_S), f"{timeout_s:g}", "env", *REMOTE_ENV, *argv])


class SshLink:
    """A lazily opened, reused connection to one host. Safe to share among concurrent calls."""

    def __init__(self, address: SshAddress, config: SshConfig, name: str) -> None:
        self.address, self.config, self.name = address, config, name
        self.user = address.user or config.user or getpass.getuser()
        self._conn: Any = None
        self._lock: asyncio.Lock | None = None
        self._channels: asyncio.Semaphore | None = None

    @property
    def known_hosts_path(self) -> Path:
        return self.config.known_hosts or Path.home() / ".ssh" / "known_hosts"

    async def exec(self, argv: list[str], timeout_s: float, limit: int = OUTPUT_LIMIT) -> ProcOutput:
        """Run argv on the host; RemoteTimeout after `timeout_s`, TargetError when the link fails."""
        import asyncssh

        remote_command(argv, timeout_s)  # refuse a bad argv before dialing
        conn = await self._connection()
        self._channels = self._channels or asyncio.Semaphore(MAX_CHANNELS)
        for attempt in range(CHANNEL_TRIES):
            try:
                async with self._channels:
                    return await self._run(conn, argv, timeout_s, limit)
            except asyncssh.ChannelOpenError as exc:  # the host is busy with this connection's other channels
                refusal = exc
                await asyncio.sleep(0.05 * (attempt + 1))
        raise TargetError(
            f"{self.name}: {self.address.host} refused to open a channel for {argv[0]}: {refusal}"
        )

    async def _run(self, conn: Any, argv: list[str], timeout_s: float, limit: int) -> ProcOutput:
        """One channel, fully closed before it is counted free again (sshd counts it until then)."""
        import asyncssh

        try:
            async with asyncio.timeout(timeout_s + KILL_AFTER_S + 1):
                proc = await conn.create_process(
                    remote_command(argv, timeout_s),
                    stdin=asyncssh.DEVNULL,
                    stderr=asyncssh.STDOUT,
                    encoding=None,
                )
                try:
                    data, truncated = await read_capped(proc.stdout, limit)
                    await proc.wait()
                finally:
                    proc.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(proc.wait_closed(), 2)
        except TimeoutError:
            raise RemoteTimeout(self._timed_out(argv, timeout_s)) from None
        except asyncssh.ChannelOpenError:
            raise
        except (OSError, asyncssh.Error) as exc:
            if conn.is_closed():
                await self._drop(conn)
            raise TargetError(f"{self.name}: the connection failed while running {argv[0]}: {exc}") from None
        code = proc.returncode if proc.returncode is not None else -1
        if code in (124, 137):  # the remote `timeout` stopped it (TERM, then KILL)
            raise RemoteTimeout(self._timed_out(argv, timeout_s))
        return ProcOutput(argv, code, data.decode("utf-8", errors="replace"), truncated)

    def _timed_out(self, argv: list[str], timeout_s: float) -> str:
        return (
            f"`{shlex.join(argv)}` on {self.address.host} timed out after {timeout_s:g}s and was stopped "
            f"(FIRSTLINE_TARGETS__SSH__COMMAND_TIMEOUT_S)"
        )

    async def _connection(self) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            return self._conn

    async def _connect(self) -> Any:
        import asyncssh

        known = _read_known_hosts(self.known_hosts_path)
        keys = [str(self.config.key_file)] if self.config.key_file else ()
        # config=None: ~/.ssh/config is not read (a ProxyCommand there would run a local shell); the agent is
        # used for keys but never forwarded to the host.
        try:
            async with asyncio.timeout(self.config.connect_timeout_s):
                return await asyncssh.connect(
                    self.address.host,
                    self.address.port,
                    username=self.user,
                    known_hosts=known,
                    config=None,
                    client_keys=keys,
                    connect_timeout=self.config.connect_timeout_s,
                    preferred_auth="publickey",
                    keepalive_interval=15,
                )
        except asyncssh.HostKeyNotVerifiable:
            raise TargetError(await self._host_key_refusal(known), "refused") from None
        except asyncssh.PermissionDenied:
            how = (
                f"the key {self.config.key_file}"
                if self.config.key_file
                else "the agent's keys and ~/.ssh/id_*"
            )
            raise TargetError(
                f"{self.name}: {self.address.host} refused to log {self.user} in with {how} "
                "(is the public key in that user's authorized_keys?)"
            ) from None
        except TimeoutError:
            raise TargetError(
                f"{self.name}: no SSH connection to {self.address.host} port {self.address.port} "
                f"within {self.config.connect_timeout_s:g}s"
            ) from None
        except (OSError, asyncssh.Error) as exc:
            reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
            raise TargetError(
                f"{self.name}: cannot connect to {self.address.host} port {self.address.port}: {reason}"
            ) from None

    async def _host_key_refusal(self, known: Any) -> str:
        """Why the key was refused, its fingerprint, and how to trust it after checking."""
        import asyncssh

        addr, path = self.address, self.known_hosts_path
        trusted = list(known.match(addr.host, addr.host, addr.port)[0])
        algs = [k.get_algorithm() for k in trusted] or ()
        key = None
        with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
            async with asyncio.timeout(self.config.connect_timeout_s):
                key = await asyncssh.get_server_host_key(
                    addr.host, addr.port, server_host_key_algs=algs, config=None
                )
        shown = (
            f"{key.get_algorithm()} key {key.get_fingerprint()}" if key else "a key (fingerprint unavailable)"
        )
        add = f"ssh-keyscan -p {addr.port} {shlex.quote(addr.host)} >> {shlex.quote(str(path))}"
        if trusted:
            return (
                f"{self.name}: refused: the host key of {addr.known_hosts_name} has CHANGED. {path} trusts "
                f"another key; the server now presents {shown}. This can be a man-in-the-middle attack or a "
                f"reinstalled host. Only after checking the new fingerprint on the host itself, replace the entry: "
                f"ssh-keygen -R {shlex.quote(addr.known_hosts_name)} -f {shlex.quote(str(path))} && {add}"
            )
        missing = "" if path.exists() else f" ({path} does not exist)"
        return (
            f"{self.name}: refused: the host key of {addr.known_hosts_name} is not in {path}{missing}; the "
            f"server presents {shown}. Firstline never trusts a new host key by itself. Check that fingerprint "
            f"on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add it: {add}"
        )

    async def _drop(self, dead: Any = None) -> None:
        """Forget the connection (only if it is still `dead`, when given: another call may have replaced it)."""
        if dead is not None and self._conn is not dead:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await conn.wait_closed()

    async def aclose(self) -> None:
        await self._drop()


def _read_known_hosts(path: Path) -> Any:
    """The trusted keys; a missing file trusts nothing (and the refusal says so)."""
    import asyncssh

    try:
        return asyncssh.read_known_hosts(str(path))
    except FileNotFoundError:
        return asyncssh.import_known_hosts("")
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read known_hosts file {path}: {exc}") from None
