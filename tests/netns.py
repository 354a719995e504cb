"""Hosts for tests: network namespaces on one bridge, made with `ip netns` and veth pairs, removed afterwards.

    with Fleet(3) as fleet:                   # skips the test when `ip netns` is not permitted
        fleet.gateway                         # the bridge's address: bind the server here
        fleet.hosts[0].popen([...])           # a process inside host 1's namespace
Each run picks random names and a random private /24 (10.200-249.x.0/24), so parallel
runs never collide. Traffic stays on the bridge, inside the namespaces and loopback.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
from dataclasses import dataclass, field
from typing import Self

import pytest


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


@dataclass
class Host:
    name: str
    """Also the namespace's name."""
    address: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        proc = subprocess.Popen(self.argv(argv), **kw)
        self.procs.append(proc)
        return proc

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=30, check=False)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


class Fleet:
    def __init__(self, count: int) -> None:
        self.tag = secrets.token_hex(3)
        self.net = f"10.{random.randint(200, 249)}.{random.randint(0, 255)}"
        self.bridge = f"flb{self.tag}"
        self.gateway = f"{self.net}.1"
        self.hosts = [Host(f"fl{self.tag}h{i}", f"{self.net}.{10 + i}") for i in range(1, count + 1)]

    def __enter__(self) -> Self:
        if os.geteuid() != 0:
            pytest.skip("network namespaces need root")
        probe = _ip("netns", "add", f"fl{self.tag}p", check=False)
        if probe.returncode != 0:
            pytest.skip(f"`ip netns` is not permitted here: {probe.stderr.strip()}")
        _ip("netns", "del", f"fl{self.tag}p", check=False)
        try:
            self._build()
        except subprocess.CalledProcessError as exc:
            self.__exit__()
            pytest.skip(f"cannot build test namespaces: {exc.stderr.strip()}")
        return self

    def _build(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, host in enumerate(self.hosts, start=1):
            outside, inside = f"fl{self.tag}a{i}", f"fl{self.tag}b{i}"
            _ip("netns", "add", host.name)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", host.name)
            _ip("link", "set", outside, "master", self.bridge)
            _ip("link", "set", outside, "up")
            _ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", inside)
            _ip("-n", host.name, "link", "set", inside, "up")
            _ip("-n", host.name, "link", "set", "lo", "up")

    def cut(self, host: Host) -> None:
        """Pull the host's cable: its side of the link goes down, nothing is closed cleanly."""
        _ip("-n", host.name, "link", "set", f"fl{self.tag}b{self.hosts.index(host) + 1}", "down")

    def __exit__(self, *exc: object) -> None:
        for host in self.hosts:
            host.stop_all()
            _ip("netns", "del", host.name, check=False)
        _ip("link", "del", self.bridge, check=False)
