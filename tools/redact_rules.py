"""The secret-finding rules `tools.redact` applies, in order.

A rule is a regex tried only where one of its anchors (lower-case literals) occurs. A
case-insensitive rule (`ci`) is written in lower case and matched against an ASCII-
lowercased copy of the text; its replacement is built from the original characters.
Replacements keep everything but the secret itself.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MASK = "[REDACTED]"
_ML = re.escape(MASK.lower())
_NOT_WORD_BEFORE = r"(?<![A-Za-z0-9_])"


class Found(Protocol):
    string: str

    def group(self, name: str | int = 0) -> str | None: ...
    def start(self, name: str | int = 0) -> int: ...
    def end(self, name: str | int = 0) -> int: ...


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    repl: Callable[[Found], str]
    anchors: tuple[str, ...]
    ci: bool = False
    back: str = ""
    """Characters to walk back over from an anchor to where a match starts (a URL scheme, a flag's dashes)."""
    line_head: re.Pattern[str] | None = None
    """For a pattern that scans ahead along the line (`curl ... -u`): its head. When the head matches at an
    anchor but the whole pattern fails, it fails at every later anchor of that line too, so those are
    skipped (else a line of 100,000 `curl`s costs n² steps)."""
    lookalike_covers: bool = False
    """A match left unchanged (nothing secret in it) means no later anchor inside it matches anything secret
    either (a Cookie header's pairs): skip them rather than re-scan the rest of the line from each."""


def _keep(pre: str = "pre", secret: str = "secret") -> Callable[[Found], str]:
    """Keep group `pre`, mask group `secret` (unless it is already masked)."""

    def repl(m: Found) -> str:
        value = m.group(secret) or ""
        if not value or MASK in value:
            return m.group(0) or ""
        return (m.group(pre) or "") + MASK

    return repl


def _prefixed(m: Found) -> str:
    return (m.group("p") or "") + MASK


# ------------------------------------------------------------------ key = value

_SUBSTRING_KEYS = (
    r"passw(?:or)?d|passphrase|secret|token|api[_.-]?key|credentials?|signature"
    r"|(?:access|private|account|master|encryption|signing|client|app|license|session|shared)"
    r"[_.-]?key"
)
_COMPONENT_KEYS = r"pass|pwd|pw|sig|auth"
"""Short names count only as a whole name part (`db_pass=`, `sig=`), never inside a word (`bypass`)."""
_SUFFIX = r"(?:[_.-]?(?:key|keys|base|value|b64|base64|access|id|hash|string))*"
_KV_ANCHORS = (
    "pass",
    "pw",
    "secret",
    "token",
    "api",
    "credential",
    "sig",
    "auth",
    "access",
    "private",
    "account",
    "master",
    "encryption",
    "signing",
    "client",
    "app",
    "license",
    "session",
    "shared",
)
_KV = re.compile(
    rf"(?P<key>(?:{_SUBSTRING_KEYS}){_SUFFIX}|(?<![a-z0-9])(?:{_COMPONENT_KEYS}){_SUFFIX})"
    r"(?P<sep>\\?[\"']?[ \t]*(?::=|=>|[:=])[ \t]*)"
    r"(?:(?P<eq>\\\")(?P<eqv>(?:(?!\\\").)*)\\\"|(?P<dq>\")(?P<dqv>(?:\\.|[^\"\\\r\n])*)\""
    r"|(?P<sq>')(?P<sqv>[^'\r\n]*)'"
    rf"|(?P<bare>(?!\d+[ \t]+bytes\b)(?:\$\{{[^}}\s]*\}}|\{{\{{[^}}\n]*\}}\}}|{_ML}"
    r"|[^\s\"',;&<>()\[\]{}\\|])+))"
)
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\**|x{3,}|<.*>|\$\{.*\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|%\(.*\)s|null|none|nil|true|false|"
    r"undefined|\(none\)|\(null\)|required|optional|set|unset|hidden|masked)$"
)


def _kv(m: Found) -> str:
    quote = m.group("eq") or m.group("dq") or m.group("sq") or ""
    value = next(
        (v for v in (m.group("eqv"), m.group("dqv"), m.group("sqv"), m.group("bare")) if v is not None), ""
    )
    if not value or MASK in value or _PLACEHOLDER.match(value.strip()):
        return m.group(0) or ""
    return f"{m.group('key')}{m.group('sep')}{quote}{MASK}{quote}"


# ------------------------------------------------------------------ headers

_SCHEMES = r"bearer|basic|token|bot|digest|negotiate|ntlm|apikey|sso-key|aws4-hmac-sha256|gcp-hmac-sha256"
_AUTH_HEADER = re.compile(
    rf"(?<![a-z0-9_])(?P<pre>authorization\\?[\"']?[ \t]*[:=][ \t]*\\?[\"']?(?:(?:{_SCHEMES})[ \t]+)?)"
    r"(?P<secret>[^\s\"'\\][^\r\n\"'\\]*)"
)
_COOKIE = re.compile(r"(?<![a-z0-9_])(?P<pre>cookie\\?[\"']?[ \t]*:[ \t]*\\?[\"']?)(?P<body>[^\r\n\"'\\]+)")
_COOKIE_PAIR = re.compile(r"(?P<name>[^\s=;,]+)=(?P<value>[^;\s,]*)")
_COOKIE_ATTRS = {
    "path",
    "domain",
    "expires",
    "max-age",
    "samesite",
    "secure",
    "httponly",
    "priority",
    "version",
    "comment",
    "partitioned",
}


def _cookie(m: Found) -> str:
    def pair(p: re.Match[str]) -> str:
        if p.group("name").lower() in _COOKIE_ATTRS or not p.group("value") or MASK in p.group("value"):
            return p.group(0)
        return f"{p.group('name')}={MASK}"

    return (m.group("pre") or "") + _COOKIE_PAIR.sub(pair, m.group("body") or "")


def _bearer(m: Found) -> str:
    """Words after "Bearer" (authentication, realm, token) are prose; a token has a digit in it."""
    token = m.group("secret") or ""
    if not any(c.isdigit() for c in token):
        return m.group(0) or ""
    return (m.group("pre") or "") + MASK


def _basic(m: Found) -> str:
    """Only a real base64 `user:password` is masked; "Basic authentication failed" is prose."""
    raw = m.group("secret") or ""
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0) or ""
    return (m.group("pre") or "") + MASK if b":" in decoded else m.group(0) or ""


def _openai(m: Found) -> str:
    """`sk-` + mixed case and digits; "sk-payments-api-7d9f8b6c5d-x2x9z" is a pod name, not a key."""
    body = m.group("body") or ""
    if m.group("p") == "sk-" and not (
        any(c.isupper() for c in body) and any(c.islower() for c in body) and any(c.isdigit() for c in body)
    ):
        return m.group(0) or ""
    return (m.group("p") or "") + MASK


def _pem(m: Found) -> str:
    kind = m.group("kind")
    return f"-----BEGIN {kind}-----{MASK}-----END {kind}-----"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_SECRET_VALUE = rf"(?P<secret>(?!{re.escape(MASK)})[^\s\"']+)"
_SECRET_VALUE_LOW = rf"(?P<secret>(?!{_ML})[^\s\"']+)"
_FLAG_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_SCHEME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789+.-"
_AWS_ID_PREFIXES = ("akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva", "abia", "acca")

RULES: list[Rule] = [
    Rule(
        "pem",
        _rx(
            r"-----BEGIN (?P<kind>[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----(?:(?:(?!-----)[\s\S]){0,20000}-----END "
            r"(?P=kind)-----|(?:(?:\r?\n|\\n)(?:[A-Za-z0-9+/=]{4,}|(?:Proc-Type|DEK-Info|Comment): [^\r\n]*)"
            r"(?=\r?\n|\\n|$))+)"
        ),
        _pem,
        ("-----begin ",),
    ),
    Rule("auth-header", _AUTH_HEADER, _keep(), ("authorization",), ci=True),
    Rule("cookie", _COOKIE, _cookie, ("cookie",), ci=True, lookalike_covers=True),
    Rule(
        "url-credentials",
        _rx(
            r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]*:)(?P<secret>[^\s/?#\"'<>]+?)"
            r"(?=@[^\s@/?#\"'<>]+(?:[/?#\s\"'<>;,)]|$))"
        ),
        _keep(),
        ("://",),
        back=_SCHEME_CHARS,
    ),
    Rule(
        "curl-user",
        _rx(
            _NOT_WORD_BEFORE + r"(?P<pre>curl\b[^\n]*?(?<!\S)(?:-u|--user)[ \t]*=?[ \t]*[\"']?"
            r"[^\s:\"']+:)" + _SECRET_VALUE
        ),
        _keep(),
        ("curl",),
        line_head=_rx(_NOT_WORD_BEFORE + r"curl\b"),
    ),
    Rule(
        "mysql-p",
        _rx(
            _NOT_WORD_BEFORE
            + r"(?P<pre>(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]*?(?<!\S)-p)"
            + _SECRET_VALUE
        ),
        _keep(),
        ("mysql", "mariadb"),
        line_head=_rx(_NOT_WORD_BEFORE + r"(?:mysql|mysqldump|mysqladmin|mariadb)\b"),
    ),
    Rule(
        "redis-a",
        _rx(_NOT_WORD_BEFORE + r"(?P<pre>redis-cli\b[^\n]*?(?<!\S)-a[ \t]+)" + _SECRET_VALUE),
        _keep(),
        ("redis-cli",),
        line_head=_rx(_NOT_WORD_BEFORE + r"redis-cli\b"),
    ),
    Rule(
        "cli-flag",
        _rx(
            r"(?<!\S)(?P<pre>--?[a-z0-9-]*?(?:password|passwd|token|secret|api-key|access-key)"
            r"[ \t]+)(?!-)" + _SECRET_VALUE_LOW
        ),
        _keep(),
        ("password", "passwd", "token", "secret", "api-key", "access-key"),
        ci=True,
        back=_FLAG_CHARS,
    ),
    Rule(
        "sql-password",
        _rx(r"(?<![a-z0-9_])(?P<pre>(?:password|identified[ \t]+by)[ \t]+)'(?P<secret>[^'\n]+)'"),
        lambda m: m.group(0) or "" if MASK in (m.group("secret") or "") else f"{m.group('pre')}'{MASK}'",
        ("password", "identified"),
        ci=True,
    ),
    Rule(
        "conf-directive",
        _rx(
            r"(?<![^\n])(?P<pre>[ \t]*(?:requirepass|masterauth|auth_pass|bind_?pw|rootpw)"
            r"[ \t]+)" + _SECRET_VALUE_LOW
        ),
        _keep(),
        ("requirepass", "masterauth", "auth_pass", "bindpw", "bind_pw", "rootpw"),
        ci=True,
        back=" \t",
    ),
    Rule(
        "netrc",
        _rx(r"(?P<pre>machine[ \t]+\S+\s+login[ \t]+\S+\s+password[ \t]+)" + _SECRET_VALUE_LOW),
        _keep(),
        ("machine",),
        ci=True,
    ),
    Rule(
        "aws-secret-prose",
        _rx(
            r"(?P<pre>secret[ _-]?access[ _-]?key\b[^\n:=]{0,24}[:=][ \t]*[\"']?)"
            r"(?P<secret>[a-z0-9/+=]{40})(?![a-z0-9/+=])"
        ),
        _keep(),
        ("secret",),
        ci=True,
    ),
    Rule(
        "jwt",
        _rx(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        lambda m: MASK,
        ("eyj",),
    ),
    Rule("anthropic", _rx(_NOT_WORD_BEFORE + r"(?P<p>sk-ant-)[A-Za-z0-9_-]{20,}"), _prefixed, ("sk-ant-",)),
    Rule(
        "openai",
        _rx(r"(?<![A-Za-z0-9_-])(?P<p>sk-(?:proj-|svcacct-|admin-)?)(?P<body>[A-Za-z0-9_-]{20,})"),
        _openai,
        ("sk-",),
    ),
    Rule(
        "stripe",
        _rx(_NOT_WORD_BEFORE + r"(?P<p>(?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9]{10,}"),
        _prefixed,
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
    ),
    Rule(
        "github",
        _rx(_NOT_WORD_BEFORE + r"(?P<p>gh[pousr]_|github_pat_)[A-Za-z0-9_]{22,}"),
        _prefixed,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    Rule("gitlab", _rx(_NOT_WORD_BEFORE + r"(?P<p>glpat-)[A-Za-z0-9_-]{20,}"), _prefixed, ("glpat-",)),
    Rule(
        "slack",
        _rx(_NOT_WORD_BEFORE + r"(?P<p>xox[abposr]-|xapp-)[A-Za-z0-9-]{10,}"),
        _prefixed,
        ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xapp-"),
    ),
    Rule(
        "slack-webhook",
        _rx(r"(?P<p>hooks\.slack\.com/services/)[A-Za-z0-9/_-]+"),
        _prefixed,
        ("hooks.slack.com/services/",),
    ),
    Rule("google-key", _rx(_NOT_WORD_BEFORE + r"(?P<p>AIza)[0-9A-Za-z_-]{35}"), _prefixed, ("aiza",)),
    Rule(
        "google-oauth",
        _rx(_NOT_WORD_BEFORE + r"(?P<p>GOCSPX-|ya29\.)[0-9A-Za-z_-]{20,}"),
        _prefixed,
        ("gocspx-", "ya29."),
    ),
    Rule(
        "aws-key-id",
        _rx(
            _NOT_WORD_BEFORE + r"(?P<p>AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)"
            r"[A-Z0-9]{16}(?![A-Za-z0-9])"
        ),
        _prefixed,
        _AWS_ID_PREFIXES,
    ),
    Rule("npm", _rx(_NOT_WORD_BEFORE + r"(?P<p>npm_)[A-Za-z0-9]{36}(?![A-Za-z0-9])"), _prefixed, ("npm_",)),
    Rule(
        "huggingface", _rx(_NOT_WORD_BEFORE + r"(?P<p>hf_)[A-Za-z]{30,}(?![A-Za-z0-9])"), _prefixed, ("hf_",)
    ),
    Rule(
        "sendgrid",
        _rx(_NOT_WORD_BEFORE + r"(?P<p>SG\.)[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
        _prefixed,
        ("sg.",),
    ),
    Rule(
        "crypt-hash",
        _rx(r"(?P<p>\$(?:2[abxy]?|1|5|6|apr1|y|gy|argon2(?:id|i|d)?)\$)[^\s:\"'$]*\$?[^\s:\"']{8,}"),
        _prefixed,
        ("$",),
    ),
    Rule(
        "bearer",
        _rx(r"(?<![a-z0-9_])(?P<pre>bearer[ \t]+)(?P<secret>[a-z0-9._~+/-]{8,}=*)"),
        _bearer,
        ("bearer",),
        ci=True,
    ),
    Rule(
        "basic",
        _rx(r"(?<![a-z0-9_])(?P<pre>basic[ \t]+)(?P<secret>[a-z0-9+/]{6,}={0,2})(?![a-z0-9+/=])"),
        _basic,
        ("basic",),
        ci=True,
    ),
    Rule("key-value", _KV, _kv, _KV_ANCHORS, ci=True),
]
