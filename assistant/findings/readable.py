"""Could an output be read at all? A parser that cannot read an output must say so (a gap in "what I could
not see"), never let it stand for "nothing there": an unread pod list is not zero pods, an unread df is not
a healthy disk.
"""

from __future__ import annotations

import re

from assistant.findings.generic import TOOL_SELF
from assistant.findings.host_text import parse_df, parse_free
from assistant.findings.k8s_structured import load_pods
from assistant.findings.k8s_text import parse_events, parse_pod_list, pod_list_unreadable
from assistant.findings.logtext import looks_cut, unframe

_EMPTY = re.compile(
    r"^(?:No resources found|No events found|No events\b|<none>$|#)|^(?:stdout|stderr):?$", re.IGNORECASE
)


def _meaningful(text: str) -> list[str]:
    lines = [unframe(ln).strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and not _EMPTY.match(ln)]


def _events_unreadable(text: str) -> bool:
    rows = [ln for ln in _meaningful(text) if not re.match(r"^(?:NAMESPACE\s+)?LAST SEEN\b", ln)]
    return bool(rows) and not parse_events(text)


def _describe_unreadable(text: str) -> bool:
    if re.search(r"^\s*(?:stdout:\s*)?Name:\s", text, re.MULTILINE) or load_pods(text):
        return False
    return bool(_meaningful(text))


def _df_unreadable(text: str) -> bool:
    return bool(_meaningful(text)) and not parse_df(text)


def _resources_unreadable(text: str) -> bool:
    return bool(_meaningful(text)) and parse_free(text) is None and "load average" not in text


def _only_about_itself(text: str) -> bool:
    """Everything a log reader printed is about its own input (no such unit or file, no previous container,
    no entries): the check returned nothing, which is a gap, not a quiet log."""
    lines = _meaningful(text)
    return bool(lines) and all(TOOL_SELF.match(ln) for ln in lines)


READERS = {
    "log_tail": _only_about_itself,
    "pod_logs": _only_about_itself,
    "service_status": _only_about_itself,
    "list_pods": pod_list_unreadable,
    "k8s_events": _events_unreadable,
    "pod_describe": _describe_unreadable,
    "disk_usage": _df_unreadable,
    "host_resources": _resources_unreadable,
}
"""Tools whose output has a known shape, and the test that it could not be read as that shape."""


def unreadable(tool: str, text: str) -> bool:
    """Output of a known shape that its parser could not read (an error text, another command's output)."""
    test = READERS.get(tool)
    return bool(test and text and text.strip() and test(text))


def cut_off(tool: str, text: str) -> bool:
    """Does the output stop in the middle: a truncation mark, an unclosed JSON line, or a table whose last
    row is cut short (the rows before it read fine, the last one does not)?"""
    if looks_cut(text):
        return True
    lines = [unframe(ln) for ln in text.rstrip("\n").splitlines() if ln.strip()]
    if len(lines) < 3:
        return False
    last, before = lines[-1].strip(), "\n".join(lines[:-1])
    if re.match(r"^[\w.-]+: |^[A-Z]\d{4} |^(?:Warning|Error)\b", last):
        return False  # a message the command printed after its table (stderr), not a row
    if tool == "list_pods":
        return bool(parse_pod_list(before)) and bool(_NAME.match(last)) and not parse_pod_list(last)
    if tool == "disk_usage":
        return bool(parse_df(before)) and not parse_df(lines[0] + "\n" + last)
    return False


_NAME = re.compile(r"^[a-z0-9][-a-z0-9.]*(?:\s|$)")
