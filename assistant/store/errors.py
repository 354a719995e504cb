"""Store errors the API maps to status codes (404, 409) and the CLI prints as-is."""

from __future__ import annotations


class StoreError(Exception):
    """Base for expected store outcomes (not bugs)."""


class NotFound(StoreError):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class Conflict(StoreError):
    """The request is valid but the current state forbids it (a turn is running, already decided...)."""
