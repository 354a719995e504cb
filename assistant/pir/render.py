"""Rendering a PIR to Markdown with a Jinja2 layout (the UI renders that Markdown with web/static/js/md.js).

The layout is prompts/pir.md.j2 unless `settings.pir_template` names a team's own; a
broken layout is a `PirTemplateError` naming the file and line. Layouts run in Jinja's
sandbox (a template is configuration, not code). The finished Markdown is redacted once
more, since the reporter's own words never went through the tool runner.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from assistant.pir import fmt
from assistant.prompting import PROMPTS_DIR
from tools.redact import redact

DEFAULT_TEMPLATE = "pir.md.j2"


class PirTemplateError(ValueError):
    """The PIR layout cannot be loaded or rendered; the message starts with `path:line:`."""


def _environment(search: list[Path]) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ts=fmt.ts,
        hm=fmt.hm,
        dur=fmt.dur,
        code=fmt.code,
        fence=fmt.fence,
        prose=fmt.prose,
        cell=fmt.cell,
        escape_md=fmt.escape,
        quote=fmt.quote,
        flat=fmt.flat,
    )
    env.filters["tcode"] = lambda text: fmt.code(text, in_table=True)
    return env


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    """The template line an exception was raised on (Jinja rewrites tracebacks to template frames)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def load_template(path: Path | None) -> jinja2.Template:
    """The team's layout at `path` (its folder and prompts/ searched for includes), else the default."""
    if path is None:
        return _environment([PROMPTS_DIR]).get_template(DEFAULT_TEMPLATE)
    path = Path(path).expanduser()
    if not path.is_file():
        raise PirTemplateError(f"{path}: PIR template not found (settings.pir_template)")
    try:
        return _environment([path.parent, PROMPTS_DIR]).get_template(path.name)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or str(path)
        raise PirTemplateError(f"{where}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise PirTemplateError(f"{path}: cannot load template: {exc}") from None


def render_markdown(
    context: dict[str, Any], template_path: Path | None = None, redactor: Callable[[str], str] = redact
) -> str:
    """The PIR Markdown for `context`, redacted; PirTemplateError (path:line) on a broken layout."""
    template = load_template(template_path)
    filename = template.filename or DEFAULT_TEMPLATE
    try:
        text = template.render(**context)
    except jinja2.TemplateSyntaxError as exc:  # an {% include %} of a broken file
        where = exc.filename or filename
        raise PirTemplateError(f"{where}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateError as exc:  # UndefinedError, SecurityError...
        line = _template_line(exc.__traceback__, filename)
        raise PirTemplateError(f"{filename}:{line or '?'}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a filter or an attribute raising inside the layout
        line = _template_line(exc.__traceback__, filename)
        raise PirTemplateError(f"{filename}:{line or '?'}: {type(exc).__name__}: {exc}") from None
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return redactor(text)
