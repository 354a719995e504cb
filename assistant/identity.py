"""Who is asking, and what their role lets them do.

Roles, each including the ones before it: viewer (reads sessions, streams, PIRs), responder (chats: opens
sessions, sends messages, cancels, drafts PIRs), approver (also decides write actions), admin (everything:
also enrolls and revokes nodes; users are managed with `firstline users`). An approval records the authenticated name, never a name the
client sends.

Identities come from: a user's bearer token (`firstline users add NAME --role ROLE`, stored hashed), the
deployment's single `FIRSTLINE_AUTH_TOKEN` (the admin "admin"), or, with neither configured on a loopback
server, the one local user (`local:<OS user running the server>`, admin).
"""

from __future__ import annotations

import getpass
import hashlib
import secrets
from dataclasses import dataclass

ROLES = ("viewer", "responder", "approver", "admin")
TOKEN_PREFIX = "fl_"
MIN_TOKEN_CHARS = 32
"""FIRSTLINE_AUTH_TOKEN shorter than this is refused: a guessable token on a public port is no lock."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    via: str
    """How it was established: token, user, cookie or local."""

    def may(self, needed: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(needed)


def local_identity() -> Identity:
    """The single local user of a loopback server without tokens: the OS user the server runs as."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Identity(name=f"local:{who}", role="admin", via="local")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are 256-bit random strings, so a plain SHA-256 is enough (no dictionary to try)."""
    return hashlib.sha256(token.encode()).hexdigest()


def needed_role(method: str, path: str) -> str:
    """The least role a request needs: reads are for viewers, decisions on write actions for approvers."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return "viewer"
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "nodes"]:
        return "admin"  # enrolling or revoking a node hands out or takes away a host
    if len(parts) == 5 and parts[:2] == ["api", "sessions"] and parts[3] == "approvals":
        return "approver"
    return "responder"
