"""The `firstline` command line: the top layer, over web, evals and the assistant core; nothing imports it."""

from cli.app import app, main

__all__ = ["app", "main"]
