"""Reaching dependencies: refused/timed-out connections, DNS failures, TLS expiry, HTTP 5xx."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from assistant.events import Finding
from assistant.findings.base import (
    SERVICE_OF_PORT,
    Call,
    Observation,
    analyzer,
    call,
    fallback,
    make_finding,
    port_of,
)
from assistant.findings.benign import benign

_REFUSED = re.compile(r"connection refused|ECONNREFUSED|actively refused", re.IGNORECASE)
_TIMEOUT = re.compile(
    r"(?:connection|connect|upstream|read|operation) timed out|ETIMEDOUT|i/o timeout|connect timeout",
    re.IGNORECASE,
)
_NOT_DEPENDENCY = re.compile(
    r"probe failed|no servers could be reached|QueuePool|Connection is not available|"
    r"(?:start|stop|start-pre|start-post|reload) operation timed out|State '[\w-]+' timed out",
    re.IGNORECASE,
)
_TARGETS = [
    re.compile(r"upstream: \"\w+://(?P<host>[^:/\"]+|\[[^\]]+\]):(?P<port>\d+)"),
    re.compile(r"(?:server at|on host) \"(?P<host>[^\"]+)\".*?port (?P<port>\d+)"),
    re.compile(r"connect(?:ing)? to (?P<host>[A-Za-z0-9_.-]+) port (?P<port>\d+)", re.IGNORECASE),
    re.compile(
        r"(?<![\w.-])(?P<host>[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63}){0,8}|\[[0-9a-fA-F:]{2,39}\]):(?P<port>\d{1,5})(?!\d|:\d)"
    ),
]
_LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}
_CLOCKLIKE = re.compile(r"^\d{1,2}$")


def _dependency(line: str) -> tuple[str | None, int | None]:
    """(host, port) the failing connection was aimed at, when the line says."""
    text = re.sub(r"\d{1,4}-\d\d-\d\d[T ][\d:.,]+\S*|\b\d\d:\d\d:\d\d(?:[.,]\d+)?", " ", line)
    for rx in _TARGETS:
        for m in reversed(list(rx.finditer(text))):
            host, port = m.group("host").strip("[]"), int(m.group("port"))
            if 0 < port < 65536 and not _CLOCKLIKE.match(host):
                return host, port
    return None, port_of(text)


def _dependency_checks(host: str | None, port: int | None) -> list[Call]:
    checks: list[Call] = []
    if port and (host is None or host in _LOCAL):
        checks.append(call("port_owner", port=port))
    elif host and not re.match(r"^[\d.]+$|:", host):
        checks.append(call("dns_lookup", name=host))
    if port in SERVICE_OF_PORT:
        checks.append(call("service_status", service=SERVICE_OF_PORT[port]))
    return checks


@analyzer
def connection_failures(obs: Observation) -> list[Finding]:
    """`connect() failed (111: Connection refused) while connecting to upstream`, ECONNREFUSED, timeouts."""
    if not obs.mentions("refused", "timed out", "timeout", "etimedout"):
        return []
    groups: dict[tuple[str, str | None, int | None], list[str]] = {}
    for ln in obs.lines:
        if _NOT_DEPENDENCY.search(ln):
            continue
        kind = "refused" if _REFUSED.search(ln) else "timeout" if _TIMEOUT.search(ln) else None
        if kind:
            host, port = _dependency(ln)
            groups.setdefault((kind, host, port), []).append(ln.strip())
    out = []
    for (kind, host, port), lines in groups.items():
        where = f"{host or '?'}:{port}" if port else (host or "a dependency")
        verb = "refused" if kind == "refused" else "timed out"
        title = f"connections to {where} {verb}" + (f" ({len(lines)} times)" if len(lines) > 1 else "")
        out.append(
            make_finding(
                obs,
                f"connection-{'refused' if kind == 'refused' else 'timeout'}",
                title,
                lines,
                {"host": host, "port": port, "count": len(lines)},
                severity="high",
                confidence=0.75 if port else 0.55,
                next_checks=_dependency_checks(host, port),
            )
        )
    return out


# ------------------------------------------------------------------ DNS

_NAME = r"(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_])"
_NXDOMAIN = [
    re.compile(rf"Host {_NAME}\.? not found: 3\(NXDOMAIN\)"),
    re.compile(rf"server can't find {_NAME}\.?:? NXDOMAIN"),
    re.compile(rf"getaddrinfo ENOTFOUND {_NAME}"),
    re.compile(rf"lookup {_NAME}(?: on \S+)?: no such host"),
    re.compile(rf"could not translate host name \"{_NAME}\" to address"),
    re.compile(rf"UnknownHostException: {_NAME}"),
    re.compile(rf"Could not resolve host: {_NAME}"),
    re.compile(rf"Could not resolve hostname {_NAME}:"),  # ssh, scp, rsync over ssh
    re.compile(rf"Failed to resolve '{_NAME}'"),  # urllib3's NameResolutionError (requests)
    re.compile(rf"getaddrinfo EAI_AGAIN {_NAME}"),
    re.compile(rf"lookup {_NAME} on \S+: (?:server misbehaving|(?:read udp \S+: )?i/o timeout)"),
    re.compile(rf"ConnectionPool\(host='{_NAME}'"),
    re.compile(rf"(?:Name or service not known|nodename nor servname provided).*?\b{_NAME}\b(?=\W*$)"),
    re.compile(r"status: NXDOMAIN|Name or service not known|NXDOMAIN"),
]
_DNS_TIMEOUT = re.compile(
    r"no servers could be reached|Temporary failure in name resolution|getaddrinfo EAI_AGAIN|server misbehaving|"
    r"lookup \S+ on \S+: (?:read udp \S+: )?i/o timeout|"
    r"status: (?:SERVFAIL|REFUSED)\b|\b2\(SERVFAIL\)|\b5\(REFUSED\)|server can't find \S+: (?:SERVFAIL|REFUSED)",
    re.IGNORECASE,
)
"""The resolver could not answer (unreachable, SERVFAIL, REFUSED): the name may well exist."""


def _lookup_name(obs: Observation, line: str) -> str | None:
    for rx in _NXDOMAIN:
        m = rx.search(line)
        if m:
            name = m.groupdict().get("name")
            if name:
                return name.rstrip(".").lower()
            break
    arg = obs.args.get("name") if obs.tool == "dns_lookup" else None
    return str(arg).lower() if arg else None


def _after(lines: list[str], i: int) -> str:
    return "\n".join(lines[i + 1 :])


def _rcode(lines: list[str]) -> str | None:
    m = next((m for ln in lines if (m := re.search(r"\b(SERVFAIL|REFUSED)\b", ln))), None)
    return m.group(1) if m else None


@analyzer
def dns_failures(obs: Observation) -> list[Finding]:
    """NXDOMAIN from `host`/`dig`/`nslookup` and the ways applications report a name that does not exist."""
    if not obs.mentions(
        "nxdomain",
        "not found",
        "enotfound",
        "no such host",
        "translate host",
        "unknownhost",
        "resolve",
        "not known",
        "servname",
        "no servers",
        "name resolution",
        "eai_again",
        "misbehaving",
        "i/o timeout",
        "servfail",
        "refused",
    ):
        return []
    found: dict[tuple[str, str | None], list[str]] = {}
    lines = obs.lines
    for i, ln in enumerate(lines):
        if benign(ln, functools.partial(_after, lines, i)):
            continue  # e.g. a query log's NXDOMAIN for a search-domain expansion whose real name then resolved
        if _DNS_TIMEOUT.search(ln):
            found.setdefault(("timeout", _lookup_name(obs, ln)), []).append(ln.strip())
        elif any(rx.search(ln) for rx in _NXDOMAIN):
            found.setdefault(("nxdomain", _lookup_name(obs, ln)), []).append(ln.strip())
    source = "lookup" if obs.tool == "dns_lookup" else "app"
    out = []
    for (kind, name), lines in found.items():
        if kind == "timeout":
            out.append(
                make_finding(
                    obs,
                    "dns-timeout",
                    f"DNS resolution of {name or 'a name'} failed ("
                    + (
                        f"the resolver answered {rcode}"
                        if (rcode := _rcode(lines))
                        else "resolver unreachable"
                    )
                    + ")",
                    lines,
                    {"name": name},
                    severity="high",
                    confidence=0.7,
                    next_checks=[call("dns_lookup", name=name)] if name and source == "app" else [],
                )
            )
            continue
        what = (
            f"{name} does not exist (NXDOMAIN)"
            if source == "lookup"
            else f"the application cannot resolve {name or 'a hostname'} (name not found)"
        )
        out.append(
            make_finding(
                obs,
                "dns-nxdomain",
                what,
                lines,
                {"name": name, "source": source},
                severity="high",
                confidence=0.9 if source == "lookup" else 0.8,
                next_checks=[call("dns_lookup", name=name)] if name and source == "app" else [],
                remediation=f"Point the configuration at a hostname that resolves (the configured {name or 'name'} "
                "does not exist), then restart the workload (needs approval).",
            )
        )
    return out


# ------------------------------------------------------------------ TLS

_EXPIRED = re.compile(
    r"certificate has expired|CERT_HAS_EXPIRED|certificate expired|status=EXPIRED\b", re.IGNORECASE
)
_DAYS = re.compile(r"days_left=(-?\d+)")
_NOT_AFTER = re.compile(r"notAfter=(.+)$|Not After\s*:\s*(.+)$|expire date:\s*(.+)$")


def _tls_host(obs: Observation) -> str | None:
    if obs.args.get("host"):
        return str(obs.args["host"])
    if obs.args.get("url"):
        return urlsplit(str(obs.args["url"])).hostname
    m = re.search(r"(?:-connect|-servername)\s+([\w.-]+)", obs.command)
    return m.group(1) if m else None


@analyzer
def tls_expiry(obs: Observation) -> list[Finding]:
    """An expired certificate (openssl dates, days_left, verify errors) or one expiring within 14 days."""
    days_m = _DAYS.search(obs.output)
    days = int(days_m.group(1)) if days_m else None
    expired_lines = obs.grep(_EXPIRED)
    not_after = next((ln for ln in obs.grep(_NOT_AFTER)), None)
    if not expired_lines and (days is None or days > 14):
        return []
    host = _tls_host(obs)
    evidence = [*(ln for ln in [not_after] if ln), *obs.grep(_DAYS)[:1], *expired_lines]
    facts = {"host": host, "days_left": days, "not_after": _after_value(not_after)}
    if expired_lines or (days is not None and days < 0):
        ago = f" {-days} days ago" if days is not None and days < 0 else ""
        return [
            make_finding(
                obs,
                "tls-cert-expired",
                f"TLS certificate for {host or 'the server'} expired{ago}",
                evidence,
                facts,
                severity="critical",
                confidence=0.95,
                next_checks=[call("tls_certificate", host=host)]
                if host and obs.tool != "tls_certificate"
                else [call("log_tail", source=CERTBOT_LOG, grep="deployed|renew|expires|rror", lines=200)],
                remediation=f"Install a renewed certificate for {host or 'the host'} and reload the service "
                "terminating TLS (restart_service, needs approval).",
            )
        ]
    return [
        make_finding(
            obs,
            "tls-cert-expiring",
            f"TLS certificate for {host or 'the server'} expires in {days} days",
            evidence,
            facts,
            severity="medium",
            confidence=0.9,
            remediation=f"Renew the certificate for {host or 'the host'} before it expires.",
        )
    ]


CERTBOT_LOG = "/var/log/letsencrypt/letsencrypt.log"
_NO_RELOAD = re.compile(
    r"new certificate deployed without reload(?:, fullchain is (?P<path>/\S+))?", re.IGNORECASE
)
_RENEWED_UNTIL = re.compile(r"(?P<path>/\S+) expires on (?P<date>[\d-]+)")


@analyzer
def tls_not_reloaded(obs: Observation) -> list[Finding]:
    """certbot renewed the certificate on disk but nothing reloaded the server that serves it."""
    hits = [(ln.strip(), m) for ln in obs.lines if (m := _NO_RELOAD.search(ln))]
    if not hits:
        return []
    line, m = hits[-1]
    path = m.group("path")
    until = next(
        (
            (ln.strip(), u)
            for ln in obs.lines
            if (u := _RENEWED_UNTIL.search(ln)) and (path is None or u.group("path") == path)
        ),
        None,
    )
    return [
        make_finding(
            obs,
            "tls-cert-not-reloaded",
            "a renewed certificate was deployed on disk without reloading the server"
            + (f" (the new one is valid until {until[1].group('date')})" if until else ""),
            [line, *(until[0:1] if until else [])],
            {"certificate": path, "renewed_until": until[1].group("date") if until else None},
            severity="high",
            confidence=0.85,
            next_checks=[call("process_list")],
            remediation="Reload the server terminating TLS so it loads the renewed certificate (restart_service, needs "
            "approval), and add a certbot deploy hook that reloads it.",
        )
    ]


def _after_value(line: str | None) -> str | None:
    if not line:
        return None
    m = _NOT_AFTER.search(line)
    return next((g.strip() for g in m.groups() if g), None) if m else None


# ------------------------------------------------------------------ HTTP

_STATUS = re.compile(r"^HTTP/[\d.]+\s+(\d{3})\b.*$")
_SERVER = re.compile(r"^Server:\s*([A-Za-z][\w-]*)", re.IGNORECASE)


_BODY_ERROR = re.compile(
    r"\"(?:error|reason|message|detail|title|err)\"\s*:\s*(?:\"[^\"]{3,}|\{)|<title>[^<]*(?:Error|Unavailable|"
    r"Gateway|Forbidden|Too Many)[^<]*</title>|^\s*(?:error|failed|exception)\b",
    re.IGNORECASE,
)
_CURL_ERROR = re.compile(r"^curl: \(\d+\) \S.*$")
_SERVER_SIDE_4XX = {403, 408, 413, 421, 429, 431}
"""4xx answers that a healthy service does not give a plain GET: refused by policy or a read-only/blocked
state (403), overloaded or rate-limited (429), limits (413, 431). They count when the body says what failed;
401, 404, 400, 405 are what a check of the wrong URL gets, not a fault of the service."""


def _body_error(obs: Observation, status_line: str) -> str | None:
    """The first line of the response body that states the error (JSON error/reason/message, an HTML
    error title, a plain 'error: ...')."""
    lines = obs.lines
    start = next((i for i, ln in enumerate(lines) if ln.strip() == status_line), 0)
    body = False
    for ln in lines[start + 1 :]:
        if not ln.strip():
            body = True
            continue
        if body and _BODY_ERROR.search(ln):
            return ln.strip()
    return None


@analyzer
def http_error_status(obs: Observation) -> list[Finding]:
    """An HTTP check answered 5xx (or a 4xx whose body states an error, e.g. 429 read-only index, 413):
    the symptom, with the server software that answered and the body's own error line."""
    if obs.tool != "http_check":
        return []
    statuses = [(ln.strip(), int(m.group(1))) for ln in obs.lines if (m := _STATUS.match(ln.strip()))]
    if not statuses:
        return []
    line, status = statuses[-1]
    said = _body_error(obs, line) if status >= 400 else None
    if status < 500 and (status not in _SERVER_SIDE_4XX or not said):
        return []
    server = next((m.group(1).lower() for ln in obs.lines if (m := _SERVER.match(ln.strip()))), None)
    server_line = next((ln for ln in obs.lines if _SERVER.match(ln.strip())), "")
    url = obs.args.get("url")
    return [
        make_finding(
            obs,
            "http-error-status",
            f"{url or 'the endpoint'} answers HTTP {status}" + (f": {said[:200]}" if said else ""),
            [line, *([said] if said else []), server_line],
            {"url": url, "status": status, "server": server},
            severity="medium",
            confidence=0.9,
            next_checks=[call("service_status", service=server)] if server else [],
        )
    ]


@fallback
def http_client_error(obs: Observation, covered: set[str]) -> list[Finding]:
    """curl's own error (`curl: (52) Empty reply from server`, `(35) SSL ... wrong version number`) when no
    specific analyzer (refused, timeout, DNS, TLS) explained it: the check failed, in curl's words."""
    if obs.tool != "http_check":
        return []
    lines = [ln.strip() for ln in obs.lines if _CURL_ERROR.match(ln.strip()) and ln.strip() not in covered]
    if not lines:
        return []
    url = str(obs.args.get("url") or "the endpoint")
    return [
        make_finding(
            obs,
            "http-check-failed",
            f"{url} could not be fetched: {lines[0][:200]}",
            lines[:2],
            {"url": url, "error": lines[0][:200]},
            severity="medium",
            confidence=0.8,
        )
    ]
