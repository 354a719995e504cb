"""The recorded-session case format (`firstline-session/1`): model, loader, validation.

A case file is a product interface (people write and record them), so every problem
is reported as `file: field: reason` and one bad file never stops the rest of a suite.
Validation runs in two passes: the JSON Schema in evals/schema.json (shape), then
checks only Python can make (tool names, argument types, regexes, contradictions).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tools.catalog import K8S_ONLY, TOOLS
from tools.targets.replay import RecordedCall

FORMAT = "firstline-session/1"
SCHEMA_PATH = Path(__file__).with_name("schema.json")


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: list[str] = Field(default_factory=list)
    tools_called: list[str] = Field(default_factory=list)
    tools_not_called: list[str] = Field(default_factory=list)
    max_tool_calls: int | None = None
    no_fault: bool = False
    summary: str | None = None


class CaseTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "replay"
    kind: Literal["host", "kubernetes"] = "host"
    hosts: list[str] = Field(default_factory=list)
    """A multi-host target's members (a node group, a fleet sandbox); also taken from the calls' `host`."""


class Case(BaseModel):
    """One validated case; `path` is where it was loaded from (None when built in code)."""

    format: str = FORMAT
    id: str
    title: str = ""
    tags: list[str] = Field(default_factory=list)
    target: CaseTarget = Field(default_factory=CaseTarget)
    turns: list[str]
    tools: list[RecordedCall] = Field(default_factory=list)
    expect: Expect
    path: Path | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    """The top-level `x-` keys, kept verbatim."""


class CaseError(BaseModel):
    """A problem in one file: which file, which field (dotted path, '' for the file) and why."""

    path: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.field}" if self.field else self.path
        return f"{where}: {self.message}"


class LoadResult(BaseModel):
    cases: list[Case] = Field(default_factory=list)
    errors: list[CaseError] = Field(default_factory=list)


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def _field_path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _schema_errors(doc: Any) -> list[tuple[str, str]]:
    validator = jsonschema.Draft202012Validator(schema())
    found = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = _field_path(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed and not str(key).startswith("x-"):
                    found.append(
                        (
                            f"{where}.{key}" if where else str(key),
                            f"unknown field (allowed: {', '.join(allowed)}, or x-... for your own)",
                        )
                    )
            continue
        found.append((where, err.message))
    return found


@functools.cache
def _arg_adapter(tool: str, key: str) -> TypeAdapter:
    field = TOOLS[tool].args_model.model_fields[key]
    if not field.metadata:
        return TypeAdapter(field.annotation)
    return TypeAdapter(Annotated[field.annotation, *field.metadata])


def _check_args(i: int, entry: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Validate recorded args against the tool's own argument types; return them normalised."""
    tool, problems, normal = entry["tool"], [], {}
    if tool not in TOOLS:
        return {}, [(f"tools[{i}].tool", f"unknown tool {tool!r}; known: {', '.join(sorted(TOOLS))}")]
    fields = TOOLS[tool].args_model.model_fields
    for key, value in (entry.get("args") or {}).items():
        where = f"tools[{i}].args.{key}"
        if key not in fields:
            problems.append((where, f"not an argument of {tool} (it has: {', '.join(fields) or 'none'})"))
            continue
        try:
            normal[key] = _arg_adapter(tool, key).validate_python(value)
        except ValidationError as exc:
            problems.append((where, exc.errors()[0]["msg"].removeprefix("Value error, ")))
    return normal, problems


def _check_expect(expect: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for j, rx in enumerate(expect.get("root_cause") or []):
        try:
            re.compile(rx)
        except re.error as exc:
            problems.append((f"expect.root_cause[{j}]", f"invalid regex {rx!r}: {exc}"))
    for key in ("tools_called", "tools_not_called"):
        for j, name in enumerate(expect.get(key) or []):
            if name not in TOOLS:
                problems.append((f"expect.{key}[{j}]", f"unknown tool {name!r}"))
    if expect.get("no_fault") and expect.get("root_cause"):
        problems.append(("expect.root_cause", "a no_fault case cannot also expect a root cause"))
    if not expect.get("no_fault") and not expect.get("root_cause"):
        problems.append(
            ("expect.root_cause", "give at least one regex for the root cause, or set no_fault: true")
        )
    return problems


def _strip_x(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_x(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("x-"))}
    if isinstance(obj, list):
        return [_strip_x(v) for v in obj]
    return obj


def _infer_kind(tools: list[dict[str, Any]]) -> str:
    return "kubernetes" if any(t.get("tool") in K8S_ONLY for t in tools) else "host"


def parse_case(doc: Any, path: str = "<case>") -> tuple[Case | None, list[CaseError]]:
    """Validate one parsed YAML document; return the case or the list of problems."""
    problems = _schema_errors(doc)
    if problems:
        return None, [CaseError(path=path, field=f, message=m) for f, m in problems]
    clean = _strip_x(doc)
    for i, entry in enumerate(clean["tools"]):
        normal, arg_problems = _check_args(i, entry)
        problems += arg_problems
        entry["args"] = normal
    problems += _check_expect(clean["expect"])
    if problems:
        return None, [CaseError(path=path, field=f, message=m) for f, m in problems]
    target = {"kind": _infer_kind(clean["tools"]), **clean.get("target", {})}
    extra = {k: v for k, v in doc.items() if k.startswith("x-")}
    case = Case.model_validate(
        {**clean, "target": target, "extra": extra, "path": None if path == "<case>" else Path(path)}
    )
    return case, []


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (its wheels do): cases load about 10x faster than in pure Python."""


def load_file(path: Path) -> tuple[Case | None, list[CaseError]]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [CaseError(path=str(path), field="", message=f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [CaseError(path=str(path), field=where, message=f"invalid YAML: {reason}")]
    if not isinstance(doc, dict):
        return None, [CaseError(path=str(path), field="", message="a case file must be a YAML mapping")]
    return parse_case(doc, str(path))


def case_files(paths: list[str | Path]) -> tuple[list[Path], list[CaseError]]:
    """Files named by `paths`: files as given, directories searched recursively for *.yaml/*.yml."""
    files, errors = [], []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            errors.append(CaseError(path=str(p), field="", message="no such file or directory"))
    return files, errors


def load_cases(paths: list[str | Path]) -> LoadResult:
    """Load every case under `paths`; invalid files become errors and the rest still load."""
    files, errors = case_files(paths)
    result = LoadResult(errors=errors)
    seen: dict[str, Path | None] = {}
    for f in files:
        case, problems = load_file(f)
        result.errors += problems
        if case is None:
            continue
        if case.id in seen:
            result.errors.append(
                CaseError(
                    path=str(f), field="id", message=f"duplicate id {case.id!r} (also in {seen[case.id]})"
                )
            )
            continue
        seen[case.id] = case.path
        result.cases.append(case)
    return result
