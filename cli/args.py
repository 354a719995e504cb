"""CLI flags derived from a tool's argument model: `--port 80 --protocol udp --previous`."""

from __future__ import annotations

import typing
from typing import Any

from tools.base import Tool


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    return bool(typing.get_args(annotation)) and all(
        a in (bool, type(None)) for a in typing.get_args(annotation)
    )


def parse_flags(tool: Tool, argv: list[str]) -> dict[str, Any]:
    """Turn `--name value` pairs into a raw argument dict; the tool's model validates types later."""
    fields = tool.args_model.model_fields
    out: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--"):
            raise ValueError(
                f"unexpected argument {token!r}; use --name value (see `firstline tools run {tool.name} --help`)"
            )
        key = token[2:].replace("-", "_")
        key, eq, inline = key.partition("=")
        negated = key.startswith("no_") and key[3:] in fields and _is_bool(fields[key[3:]].annotation)
        name = key[3:] if negated else key
        if name not in fields:
            known = ", ".join("--" + f.replace("_", "-") for f in fields) or "(none)"
            raise ValueError(f"{tool.name} has no option --{key.replace('_', '-')}; options: {known}")
        if _is_bool(fields[name].annotation) and not eq:
            out[name] = not negated
            i += 1
            continue
        if eq:
            out[name] = inline
            i += 1
            continue
        if i + 1 >= len(argv):
            raise ValueError(f"--{key.replace('_', '-')} needs a value")
        out[name] = argv[i + 1]
        i += 2
    return out


def flags_help(tool: Tool) -> str:
    """One line per option, from the same model the JSON schema comes from."""
    schema = tool.parameters_schema()
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or "/".join(
            p.get("type", "?") for p in prop.get("anyOf", []) if p.get("type") != "null"
        )
        if "enum" in prop:
            kind = "|".join(map(str, prop["enum"]))
        default = "" if name in required else f" (default: {prop.get('default')})"
        desc = prop.get("description", "")
        flag = "--" + name.replace("_", "-")
        lines.append(f"  {flag:<22} {kind:<10} {'required ' if name in required else ''}{desc}{default}")
    return "\n".join(lines) or "  (no options)"
