"""Masking the values of Kubernetes Secret `data:` / `stringData:` maps in YAML and JSON dumps.

A ConfigMap's `data:` looks the same and must stay readable (a wrong host in a ConfigMap
is a diagnosis), so a block is masked only when the object it belongs to says
`kind: Secret`. Objects are told apart by their `apiVersion` lines (plain documents,
`kind: List` items, the JSON of a last-applied-configuration annotation).
"""

from __future__ import annotations

import bisect
import re

_BOUNDARY = re.compile(r'(?m)^[ \t]*(?:- )?apiVersion:|^---|\\?"apiVersion\\?"[ \t]*:')
_KIND_SECRET = re.compile(
    r'(?m)^[ \t]*(?:- )?kind:[ \t]*Secret[ \t]*$|\\?"kind\\?"[ \t]*:[ \t]*\\?"Secret\\?"'
)
_YAML_BLOCK = re.compile(
    r"(?m)^(?P<ind>[ \t]*)(?:- )?(?:data|stringData):[ \t]*\r?\n"
    r"(?P<body>(?:(?P=ind)[ \t]+[^\r\n]*(?:\r?\n|$))+)"
)
_YAML_ENTRY = re.compile(r"(?m)^(?P<pre>[ \t]+[^\s:#][^:\r\n]*:[ \t]*)(?P<value>[^\r\n]*)$")
_JSON_BLOCK = re.compile(r'\\?"(?:data|stringData)\\?"[ \t]*:[ \t]*\{(?P<body>[^{}]*)\}')
_JSON_ENTRY = re.compile(r'(?P<pre>\\?"[^"\\]+\\?"[ \t]*:[ \t]*)(?P<q>\\?")(?P<value>[^"\\]*)(?P=q)')


def _in_secret(text: str, starts: list[int], pos: int) -> bool:
    """Whether the object around `pos` (between the nearest apiVersion boundaries) is a Secret."""
    i = bisect.bisect_right(starts, pos)
    lo = starts[i - 1] if i > 0 else 0
    hi = starts[i] if i < len(starts) else len(text)
    return _KIND_SECRET.search(text, lo, hi) is not None


def _mask_yaml_body(body: str, mask: str) -> str:
    lines = body.splitlines(keepends=True)
    entry_indent = len(lines[0]) - len(lines[0].lstrip(" \t")) if lines else 0
    out = []
    for line in lines:
        stripped = line.rstrip("\r\n")
        ending = line[len(stripped) :]
        indent = len(stripped) - len(stripped.lstrip(" \t"))
        m = _YAML_ENTRY.match(stripped)
        if indent > entry_indent:  # a continuation line of a multi-line (|) value
            out.append(stripped[:indent] + mask + ending if stripped.strip() else line)
        elif m and m.group("value").strip() and m.group("value").strip() not in ("|", ">", "|-", ">-", mask):
            out.append(m.group("pre") + mask + ending)
        else:
            out.append(line)
    return "".join(out)


def _mask_json_body(body: str, mask: str) -> str:
    def one(m: re.Match[str]) -> str:
        if not m.group("value") or m.group("value") == mask:
            return m.group(0)
        return f"{m.group('pre')}{m.group('q')}{mask}{m.group('q')}"

    return _JSON_ENTRY.sub(one, body)


def mask_k8s_secrets(text: str, mask: str) -> str:
    """`text` with the values of every Secret's data/stringData masked (keys kept: they say what it holds)."""
    if "Secret" not in text:
        return text
    starts = [m.start() for m in _BOUNDARY.finditer(text)]

    def yaml_block(m: re.Match[str]) -> str:
        if not _in_secret(text, starts, m.start()):
            return m.group(0)
        head = m.group(0)[: m.start("body") - m.start()]
        return head + _mask_yaml_body(m.group("body"), mask)

    def json_block(m: re.Match[str]) -> str:
        if not _in_secret(text, starts, m.start()):
            return m.group(0)
        head = m.group(0)[: m.start("body") - m.start()]
        return head + _mask_json_body(m.group("body"), mask) + "}"

    text = _YAML_BLOCK.sub(yaml_block, text)
    starts = [m.start() for m in _BOUNDARY.finditer(text)]
    return _JSON_BLOCK.sub(json_block, text)
