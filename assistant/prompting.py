"""Rendering the Jinja2 templates in prompts/ (the only place the assistant's words live)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PROMPTS_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # prompts and Markdown, never HTML
    )


def render(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values).strip()
