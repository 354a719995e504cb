"""The command line an engineer would type for a tool call, known before it runs.

Approval prompts and the command trail show it; targets may report a more exact
one after running (e.g. the real argv they used). Each tool declares its own
(`Tool.shows` in tools/catalog.py); this adapts the argument dicts callers hold.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tools.base import generic_command
from tools.catalog import TOOLS


def command_line(tool: str, args: dict[str, Any]) -> str:
    """The equivalent shell command, for display only (Firstline never runs it through a shell).

    `args` may be masked (a URL's password) or carry a fleet's `host`: keys the tool does not take
    are left out, and values that no longer validate are shown as given."""
    declared = TOOLS.get(tool)
    if declared is None:
        return generic_command(tool, args)
    fields = declared.args_model.model_fields
    known = {k: v for k, v in args.items() if k in fields}
    try:
        typed = declared.args_model.model_validate(known)
    except ValidationError:
        typed = declared.args_model.model_construct(**known)
    try:
        return declared.command(typed)
    except (AttributeError, KeyError, TypeError):
        return generic_command(tool, args)
