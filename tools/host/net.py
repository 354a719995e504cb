"""Network probes for the local target: name resolution, one HTTP GET, a peer certificate.

http_check and tls_certificate reach only hosts on the target's allow-list, checked
before any connection is made: the name against the list, then every address it resolves
to (a loopback, private, link-local or otherwise special address only when that address or
its network is listed itself, so `*.internal.example.com` cannot be pointed at 127.0.0.2),
and the connection goes to the address that was checked, so DNS cannot change in between.
The server's own ports are refused. Redirects are reported, never followed (like curl
without -L). Results are `tools.facts` models, including the failures.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID

from tools.facts import DnsFacts, HttpFacts, TlsFacts
from tools.targets.base import TargetError

BODY_READ = 16_384
_GAI_STATUS = {
    socket.EAI_NONAME: "NXDOMAIN",
    socket.EAI_AGAIN: "TIMEOUT",
    socket.EAI_FAIL: "SERVFAIL",
    getattr(socket, "EAI_NODATA", -5): "NOERROR",
}


def _norm(host: str) -> str:
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def host_allowed(host: str, allow: Sequence[str]) -> bool:
    """Exact names or IPs, or `*.suffix` patterns (which do not match the bare suffix)."""
    h = _norm(host)
    for pattern in allow:
        p = _norm(pattern)
        if (p.startswith("*.") and h.endswith(p[1:])) or p == h:
            return True
    return False


def require_allowed(tool: str, host: str, allow: Sequence[str]) -> None:
    if not host_allowed(host, allow):
        raise TargetError(
            f"{tool}: {host!r} is not on this target's allow-list ({', '.join(allow) or 'empty'}); nothing was "
            "contacted. Add it to FIRSTLINE_HTTP_ALLOW if it should be reachable."
        )


def _special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, shared, reserved, unspecified or multicast: anything not plainly public."""
    return not ip.is_global or ip.is_multicast


def _listed_networks(allow: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for entry in allow:
        try:
            nets.append(ipaddress.ip_network(entry.strip().strip("[]"), strict=False))
        except ValueError:
            continue  # a name or a *.pattern
    return nets


def checked_address(
    tool: str, host: str, port: int, allow: Sequence[str], deny_ports: Sequence[int] = ()
) -> str:
    """The address to connect to for `host`: on the list by name, and every address it resolves to public or
    listed itself; never one of the server's own ports on this host. TargetError otherwise (nothing contacted)."""
    require_allowed(tool, host, allow)
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetError(f"{tool}: cannot resolve {host!r}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    nets = _listed_networks(allow)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if _special(ip) and not any(ip in net for net in nets if net.version == ip.version):
            raise TargetError(
                f"{tool}: {host!r} resolves to {address}, a loopback, private or link-local address "
                "that is not on the allow-list itself; list the address (or its network) to allow it"
            )
        if port in deny_ports and (ip.is_loopback or ip.is_unspecified or ip.is_private):
            raise TargetError(f"{tool}: port {port} on {address} is Firstline's own server; refused")
    return addresses[0]


# ---------------------------------------------------------------- DNS


def resolve(name: str) -> DnsFacts:
    """Resolve like the system does (getaddrinfo: /etc/hosts, then DNS); IPs are looked up in reverse."""
    t0 = time.perf_counter()
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return _reverse(name, t0)
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP, flags=socket.AI_CANONNAME)
    except socket.gaierror as exc:
        status = _GAI_STATUS.get(exc.errno, "SERVFAIL")
        return DnsFacts(name=name, status=status, elapsed_ms=(time.perf_counter() - t0) * 1000)
    addrs: list[str] = []
    for family in (socket.AF_INET, socket.AF_INET6):
        addrs += [i[4][0] for i in infos if i[0] == family and i[4][0] not in addrs]
    canonical = next((i[3] for i in infos if i[3]), None)
    return DnsFacts(
        name=name, addresses=addrs, canonical_name=canonical, elapsed_ms=(time.perf_counter() - t0) * 1000
    )


def _reverse(ip: str, t0: float) -> DnsFacts:
    try:
        host, aliases, _ = socket.gethostbyaddr(ip)
    except socket.herror:
        return DnsFacts(name=ip, status="NXDOMAIN", elapsed_ms=(time.perf_counter() - t0) * 1000)
    except socket.gaierror as exc:
        return DnsFacts(name=ip, status=_GAI_STATUS.get(exc.errno, "SERVFAIL"))
    return DnsFacts(name=ip, ptr_names=[host, *aliases], elapsed_ms=(time.perf_counter() - t0) * 1000)


# ---------------------------------------------------------------- HTTP


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _curl_error(exc: httpx.HTTPError, host: str, port: int, ms: int, received: int) -> tuple[int, str]:
    """curl's exit code and message for what went wrong."""
    chain = list(_chain(exc))
    if isinstance(exc, httpx.ConnectTimeout):
        return 28, f"Connection timed out after {ms} milliseconds"
    if isinstance(exc, httpx.TimeoutException):
        return 28, f"Operation timed out after {ms} milliseconds with {received} bytes received"
    cert = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if cert is not None:
        return 60, f"SSL certificate problem: {cert.verify_message}"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return 35, f"SSL connect error: {exc}"
    if any(isinstance(e, socket.gaierror) for e in chain) or "Name or service not known" in str(exc):
        return 6, f"Could not resolve host: {host}"
    if isinstance(exc, httpx.ConnectError):
        reason = (
            "Connection refused" if any(isinstance(e, ConnectionRefusedError) for e in chain) else str(exc)
        )
        return 7, f"Failed to connect to {host} port {port} after {ms} ms: {reason}"
    if isinstance(exc, httpx.RemoteProtocolError) and received == 0:
        return 52, "Empty reply from server"
    return 56, f"Recv failure: {exc or type(exc).__name__}"


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """`url` aimed at `address`, with the original Host header and TLS server name."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    ip = f"[{address}]" if ":" in address else address
    netloc = (f"{userinfo}@" if userinfo else "") + f"{ip}:{port}"
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"Host": hostport}, extensions


async def http_get(url: str, timeout: float = 10.0, address: str | None = None) -> HttpFacts:
    """One GET, no redirects followed, no proxies from the environment; the start of the body kept. With
    `address`, the connection goes there (the address the allow-list checked), whatever DNS says now."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    t0 = time.perf_counter()
    body = bytearray()
    headers = {"User-Agent": "curl/8 (firstline)", "Accept": "*/*", "Accept-Encoding": "identity"}
    target, extensions = url, {}
    if address is not None:
        target, host_header, extensions = _pinned(url, address)
        headers.update(host_header)
    try:
        async with (
            httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client,
            client.stream("GET", target, headers=headers, extensions=extensions) as resp,
        ):
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) >= BODY_READ:
                    break
    except httpx.HTTPError as exc:
        ms = int((time.perf_counter() - t0) * 1000)
        code, message = _curl_error(exc, parts.hostname or "", port, ms, len(body))
        return HttpFacts(url=url, curl_exit=code, curl_error=message, time_total_s=ms / 1000)
    length = resp.headers.get("content-length")
    return HttpFacts(
        url=url,
        http_version=resp.http_version.removeprefix("HTTP/"),
        status=resp.status_code,
        reason=resp.reason_phrase,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.headers.raw],
        body=bytes(body).decode(resp.encoding or "utf-8", errors="replace"),
        body_bytes=int(length) if length and length.isdigit() else len(body),
        time_total_s=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------- TLS

_SHORT = {NameOID.EMAIL_ADDRESS: "emailAddress"}


def openssl_name(name: x509.Name) -> str:
    """OpenSSL's one-line form in certificate order: `C = US, O = Let's Encrypt, CN = R3`."""
    return ", ".join(f"{_SHORT.get(a.oid, a.rfc4514_attribute_name)} = {a.value}" for a in name)


def _san(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [f"DNS:{v}" for v in ext.get_values_for_type(x509.DNSName)] + [
        f"IP Address:{v}" for v in ext.get_values_for_type(x509.IPAddress)
    ]


def _sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        return host


class HandshakeError(OSError):
    """Connected, but no TLS certificate came back."""


def _peer_der(host: str, port: int, timeout: float, address: str | None = None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address or host, port), timeout=timeout) as sock:
        try:
            with ctx.wrap_socket(sock, server_hostname=_sni(host)) as tls:
                der = tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as exc:
            reason = (
                "timed out" if isinstance(exc, TimeoutError) else (getattr(exc, "reason", None) or str(exc))
            )
            raise HandshakeError(f"TLS handshake failed: {reason} (is port {port} speaking TLS?)") from exc
    if not der:
        raise HandshakeError("TLS handshake failed: the server sent no certificate")
    return der


def _verify(host: str, port: int, timeout: float, address: str | None = None) -> tuple[bool, str | None]:
    """Whether the chain and name verify against the system trust store."""
    ctx = ssl.create_default_context()
    try:
        with (
            socket.create_connection((address or host, port), timeout=timeout) as sock,
            ctx.wrap_socket(sock, server_hostname=host),
        ):
            return True, None
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message or str(exc)
    except (ssl.SSLError, OSError) as exc:
        return False, str(exc)


def _connect_reason(exc: BaseException) -> str:
    if isinstance(exc, HandshakeError):
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "Connection timed out"
    if isinstance(exc, socket.gaierror):
        return f"Name or service not known ({exc.strerror})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    return f"{type(exc).__name__}: {exc}"


def fetch_certificate(host: str, port: int, timeout: float = 8.0, address: str | None = None) -> TlsFacts:
    """The peer certificate even when invalid or expired; verification reported separately. With `address`,
    both connections go there (the checked address)."""
    try:
        der = _peer_der(host, port, timeout, address)
    except (OSError, ssl.SSLError) as exc:
        return TlsFacts(host=host, port=port, error=_connect_reason(exc))
    cert = x509.load_der_x509_certificate(der)
    verified, verify_error = _verify(host, port, timeout, address)
    return TlsFacts(
        host=host,
        port=port,
        subject=openssl_name(cert.subject),
        issuer=openssl_name(cert.issuer),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        san=_san(cert),
        serial=format(cert.serial_number, "X"),
        verified=verified,
        verify_error=verify_error,
    )
