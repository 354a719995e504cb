"""DNS, HTTP and TLS as seen from a sandbox scenario, derived from its facts.

An HTTP answer depends on who listens on the port it lands on (an orphaned node
process answers differently from nginx), and an https URL fails verification when
the scenario's certificate for that host has expired, so each fact is stated once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from tools.facts import DnsFacts, HttpFacts, TlsFacts
from tools.render_host import tls_status
from tools.scenarios import DnsSpec, HttpEndpoint, HttpResponse, TlsSpec

_NOT_FOUND_BODY = "<html>\n<head><title>404 Not Found</title></head>\n<body>\n<center><h1>404 Not Found</h1></center>\n</body>\n</html>\n"


def _key(url: str, local: set[str]) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, "<local>" if host in local else host, port, path


class NetState:
    """Resolver, web endpoints and certificates of one sandbox target instance."""

    def __init__(
        self,
        dns: DnsSpec,
        http: list[HttpEndpoint],
        tls: list[TlsSpec],
        clock: Callable[[], datetime],
        local_names: set[str],
        local_address: str | None,
        owner_of: Callable[[int], str | None],
    ) -> None:
        self.dns_spec, self.endpoints, self.certs = dns, http, tls
        self.clock, self.local, self.local_address, self.owner_of = (
            clock,
            local_names,
            local_address,
            owner_of,
        )
        self.restarted: set[str] = set()

    # ------------------------------------------------------------ DNS

    def resolve(self, name: str) -> DnsFacts:
        name = name.lower().rstrip(".")
        rec = self.dns_spec.records.get(name)
        if rec is not None:
            return DnsFacts(name=name, resolver=self.dns_spec.resolver, **rec.model_dump())
        if name in ("localhost",):
            return DnsFacts(name=name, addresses=["127.0.0.1", "::1"], resolver=self.dns_spec.resolver)
        if name in self.local and self.local_address:
            return DnsFacts(name=name, addresses=[self.local_address], resolver=self.dns_spec.resolver)
        return DnsFacts(name=name, status="NXDOMAIN", resolver=self.dns_spec.resolver)

    # ------------------------------------------------------------ TLS

    def certificate(self, host: str, port: int) -> TlsFacts:
        host = host.lower().rstrip(".")
        cert = next((c for c in self.certs if c.port == port and c.host == host), None)
        if cert is None and host in self.local and self.owner_of(port):  # the default server's certificate
            cert = next((c for c in self.certs if c.port == port and c.served_by), None)
        if cert is None:
            dns = self.resolve(host) if not _is_ip(host) else None
            error = (
                "Name or service not known"
                if dns is not None and dns.status != "NOERROR"
                else "Connection refused"
            )
            return TlsFacts(host=host, port=port, error=error)
        facts = TlsFacts(**cert.model_dump(exclude={"served_by", "renewed"}))
        facts.host = host
        if tls_status(facts, self.clock())[1] == "EXPIRED":
            facts.verified, facts.verify_error = False, "certificate has expired"
        return facts

    def reload_service(self, service: str) -> None:
        """A restarted service loads the renewed certificate waiting on disk and serves fresh answers."""
        self.restarted.add(service)
        for cert in self.certs:
            if cert.served_by == service and cert.renewed is not None:
                renewed = cert.renewed.model_dump()
                for field, value in renewed.items():
                    setattr(cert, field, value)
                cert.renewed = None

    # ------------------------------------------------------------ HTTP

    def get(self, url: str) -> HttpFacts:
        scheme, host, port, path = _key(url, self.local)
        name = urlsplit(url).hostname or ""
        if host != "<local>" and not _is_ip(host) and self.resolve(host).status != "NOERROR":
            return HttpFacts(
                url=url, curl_exit=6, curl_error=f"Could not resolve host: {name}", time_total_s=0.002
            )
        same_server = [e for e in self.endpoints if _key(e.url, self.local)[:3] == (scheme, host, port)]
        endpoint = next((e for e in same_server if _key(e.url, self.local)[3] == path), None)
        if scheme == "https":
            cert = self.certificate(name, port)
            if cert.verified is False and cert.verify_error == "certificate has expired":
                return HttpFacts(
                    url=url,
                    curl_exit=60,
                    time_total_s=0.021,
                    curl_error="SSL certificate problem: certificate has expired",
                )
        if endpoint is None:
            return self._no_endpoint(url, name, host, port, same_server)
        return HttpFacts(url=url, **self._reply(endpoint, name).model_dump())

    def _reply(self, e: HttpEndpoint, name: str) -> HttpResponse:
        """Who answers decides what: the port's current owner, then a restart of `served_by`."""
        if e.port is not None:
            owner = self.owner_of(e.port)
            if owner is None:
                return e.unbound or _refused(name, e.port)
            if owner in e.by_owner:
                return e.by_owner[owner]
        if e.served_by in self.restarted and e.after_restart is not None:
            return e.after_restart
        return HttpResponse(**e.model_dump(include=set(HttpResponse.model_fields)))

    def _no_endpoint(
        self, url: str, name: str, host: str, port: int, same_server: list[HttpEndpoint]
    ) -> HttpFacts:
        listening = self.owner_of(port) if host == "<local>" else None
        if same_server or listening:
            return HttpFacts(
                url=url,
                status=404,
                reason="Not Found",
                body=_NOT_FOUND_BODY,
                time_total_s=0.004,
                headers=[("Content-Type", "text/html"), ("Content-Length", str(len(_NOT_FOUND_BODY)))],
            )
        if host == "<local>":
            return HttpFacts(url=url, **_refused(name, port).model_dump())
        return HttpFacts(
            url=url,
            curl_exit=28,
            time_total_s=10.002,
            curl_error=f"Failed to connect to {name} port {port} after 10002 ms: Timeout was reached",
        )


def _refused(name: str, port: int) -> HttpResponse:
    return HttpResponse(
        curl_exit=7,
        time_total_s=0.001,
        curl_error=f"Failed to connect to {name} port {port} after 0 ms: Couldn't connect to server",
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
        return True
    except ValueError:
        return False
