"""Firstline's core: the agent loop, models, findings, store and PIR drafts."""

__version__ = "0.2.0"
"""The one place the version is written; pyproject.toml, the API and `firstline --version` read it."""
