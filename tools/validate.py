"""Argument types checked at the edge, before anything runs.

Each is an `Annotated` type so a tool's argument model states its rules once and
the JSON schema shown to the model carries the same pattern.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

_SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:\\-]{0,127}$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_SELECTOR = re.compile(r"^[A-Za-z0-9_.\-/=!,() ]{1,256}$")
_MATCH = re.compile(r"^[^\x00-\x1f]{1,128}$")


def _service(v: str) -> str:
    if not _SERVICE_RE.match(v):
        raise ValueError(
            f"{v!r} is not a valid service name (letters, digits and _ . @ : - only, no spaces or shell characters)"
        )
    return v


def _dns_label(v: str) -> str:
    if len(v) > 63 or not _DNS1123_LABEL.match(v):
        raise ValueError(f"{v!r} is not a valid DNS-1123 label (lowercase letters, digits, '-'; at most 63)")
    return v


def _dns_subdomain(v: str) -> str:
    if len(v) > 253 or not _DNS1123_SUBDOMAIN.match(v):
        raise ValueError(f"{v!r} is not a valid DNS-1123 name (lowercase letters, digits, '-', '.')")
    return v


def _host(v: str) -> str:
    try:
        ipaddress.ip_address(v.strip("[]"))
        return v.strip("[]")
    except ValueError:
        pass
    if not _HOSTNAME.match(v):
        raise ValueError(f"{v!r} is not a valid hostname or IP address")
    return v.rstrip(".").lower()


def _url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{v!r}: only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise ValueError(f"{v!r}: URL has no host")
    _host(parts.hostname)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError(f"{v!r}: URL port must be a number 1-65535")
    if any(c in v for c in "\x00\r\n \t"):
        raise ValueError(f"{v!r}: URL contains whitespace or control characters")
    return v


def _log_source(v: str) -> str:
    if "\x00" in v or "\n" in v:
        raise ValueError("log source contains control characters")
    if not v or len(v) > 4096:
        raise ValueError("log source must be 1..4096 characters")
    return v


def _selector(v: str) -> str:
    if not _SELECTOR.match(v):
        raise ValueError(f"{v!r} is not a valid label selector")
    return v


def _match(v: str) -> str:
    if not _MATCH.match(v):
        raise ValueError("match must be 1..128 printable characters")
    return v


ServiceName = Annotated[
    str, Field(max_length=128, description="service/unit name, e.g. nginx"), AfterValidator(_service)
]
PodName = Annotated[str, Field(max_length=253, description="pod name"), AfterValidator(_dns_subdomain)]
Namespace = Annotated[
    str, Field(max_length=63, description="Kubernetes namespace"), AfterValidator(_dns_label)
]
ObjectName = Annotated[str, Field(max_length=253), AfterValidator(_dns_subdomain)]
Port = Annotated[int, Field(ge=1, le=65535, description="TCP/UDP port 1-65535")]
Host = Annotated[str, Field(max_length=253, description="hostname or IP"), AfterValidator(_host)]
Url = Annotated[str, Field(max_length=2048, description="http(s) URL"), AfterValidator(_url)]
LogSource = Annotated[str, AfterValidator(_log_source)]
Selector = Annotated[str, AfterValidator(_selector)]
Match = Annotated[str, AfterValidator(_match)]
