"""How a node reaches its server: TLS (`wss://`) checked against the CA it was given, and through the
HTTP proxy its environment names. Real `firstline node` processes, a real TLS WebSocket server."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys

import pytest
from conftest import ROOT
from connect_proxy import ConnectProxy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from test_node_policy import HostileServer, _node_config
from websockets.asyncio.server import serve

pytestmark = pytest.mark.slow  # real `firstline node` processes over TLS and a proxy


def _tls(tmp_path) -> tuple[ssl.SSLContext, str]:
    """A private CA and a certificate for localhost/127.0.0.1 signed by it: (server context, CA file)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "firstline test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(
        cert.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.pem")
    return ctx, str(tmp_path / "ca.pem")


def _start(config, env_extra: dict[str, str], log=None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | env_extra
    stderr = open(log, "w") if log is not None else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "node", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stderr=stderr,
        text=True,
    )


async def test_a_node_speaks_tls_to_a_server_its_ca_vouches_for_and_no_other(tmp_path):
    key = Ed25519PrivateKey.generate()
    ctx, ca_file = _tls(tmp_path)
    hostile = HostileServer()
    async with serve(hostile.handler, "127.0.0.1", 0, ssl=ctx) as server:
        port = server.sockets[0].getsockname()[1]
        trusting = _node_config(tmp_path, port, key, allow_tools=["disk_usage"])
        text = trusting.read_text().replace(f'"ws://127.0.0.1:{port}"', f'"https://localhost:{port}"')
        trusting.write_text(text.replace("heartbeat_s = 1.0", f'heartbeat_s = 1.0\nca_file = "{ca_file}"'))
        node = _start(trusting, {})
        try:
            await asyncio.wait_for(hostile.connected.wait(), 30)
            result = await hostile.call("t1", "disk_usage", {"path": "/"})
            assert result["ok"] and "Filesystem" in result["output"]
        finally:
            node.terminate()
            await asyncio.to_thread(node.communicate, timeout=10)
        stranger = tmp_path / "stranger.toml"  # the system's CAs do not know our test CA
        stranger.write_text(text)
        log = tmp_path / "stranger.log"
        node = _start(stranger, {}, log)
        try:
            for _ in range(300):  # it keeps retrying, and never talks to a server it cannot verify
                if (
                    "CERTIFICATE_VERIFY_FAILED" in log.read_text()
                    or "certificate verify failed" in log.read_text()
                ):
                    break
                await asyncio.sleep(0.1)
            assert node.poll() is None
        finally:
            node.terminate()
            await asyncio.to_thread(node.wait, 10)
        assert "certificate verify failed" in log.read_text().lower()
        assert len(hostile.results) == 1


async def test_a_node_goes_through_the_http_proxy_of_its_environment(tmp_path):
    key = Ed25519PrivateKey.generate()
    hostile = HostileServer()
    with ConnectProxy() as proxy:
        async with serve(hostile.handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            node = _start(
                _node_config(tmp_path, port, key, allow_tools=["disk_usage"]),
                {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}"},
            )
            try:
                await asyncio.wait_for(hostile.connected.wait(), 30)
                assert (await hostile.call("p1", "disk_usage", {"path": "/"}))["ok"]
            finally:
                node.terminate()
                await asyncio.to_thread(node.communicate, timeout=10)
    assert proxy.tunnels == [f"127.0.0.1:{port}"]
