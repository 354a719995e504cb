"""What an approval card says about one write action: its intent, what it changes, how to undo it.

The model's text for a step covers every call of that step, so copying it onto each card made a
restart's card repeat the kill's reason. Each card now states its own action; the model's words
are kept only where they name this action or its target.
"""

from __future__ import annotations

import re
from typing import Any

_TEXT = {
    "restart_service": (
        "Restart {service} so it runs again with its current configuration.",
        "{service}'s processes are stopped and started again (new PIDs); its open connections drop "
        "for the few seconds of the restart.",
        "A restart cannot be reversed; `sudo systemctl stop {service}` stops it again.",
    ),
    "kill_process": (
        "Stop process {pid} with SIG{signal}.",
        "Process {pid} receives SIG{signal} and exits; what it held (a port, a file lock) is released.",
        "The process is gone; start it again from its own command line if it was needed.",
    ),
    "rollout_restart": (
        "Replace the pods of deployment/{deployment} in {namespace} with fresh ones.",
        "New pods are created and old ones terminated, a few at a time; the pod template is unchanged.",
        "`kubectl -n {namespace} rollout undo deployment/{deployment}`",
    ),
    "rollout_undo": (
        "Roll deployment/{deployment} in {namespace} back to its previous revision.",
        "The pod template (image, environment, config references) returns to the previous revision and "
        "the pods are replaced.",
        "`kubectl -n {namespace} rollout undo deployment/{deployment}` again returns to the current "
        "revision.",
    ),
}


class _Args(dict):
    def __missing__(self, key: str) -> str:
        return {"signal": "TERM", "namespace": "default"}.get(key, f"<{key}>")


def _why(tool: str, args: dict[str, Any], text: str) -> str:
    """The sentences of the model's step text about this action (its tool name or one of its values)."""
    names = [tool] + [str(v) for v in args.values() if isinstance(v, (str, int)) and len(str(v)) >= 2]
    sentences = re.split(r"(?<=[.!?])\s+|\n+", text or "")
    return " ".join(s.strip() for s in sentences if s.strip() and any(n in s for n in names))[:400]


def approval_reason(tool: str, args: dict[str, Any], text: str) -> str:
    """Intent, change and undo of this one action, plus the model's own words about it."""
    template = _TEXT.get(tool)
    why = _why(tool, args, text)
    if template is None:
        return why or (text or "").strip()[:400]
    values = _Args({k: str(v).removeprefix("SIG") if k == "signal" else v for k, v in args.items()})
    intent, change, undo = (t.format_map(values) for t in template)
    return f"Intent: {intent}" + (f" Why: {why}" if why else "") + f"\nChanges: {change}\nUndo: {undo}"
