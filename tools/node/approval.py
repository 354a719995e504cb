"""Signed approvals: what lets a node run a write call, and nothing else does.

The server signs {node, tool, canonical args, approval id, expiry} with its Ed25519
key; the node was given the public half at enrolment and checks the signature against
the call it is about to run (its own name, the tool and arguments it received, after
validation). A signature is good for that exact call only, until it expires, and once:
the node remembers used approval ids until they expire.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = 1
MAX_TTL_S = 900
"""An approval valid for longer than this is refused, whatever it says (limits the replay window)."""


def approval_message(node: str, tool: str, args: dict[str, Any], approval_id: str, expires_at: int) -> bytes:
    """The exact bytes signed: canonical JSON (sorted keys, no whitespace, UTF-8)."""
    body = {
        "v": VERSION,
        "node": node,
        "tool": tool,
        "args": args,
        "approval_id": approval_id,
        "expires_at": int(expires_at),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sign(
    key: Ed25519PrivateKey, node: str, tool: str, args: dict[str, Any], approval_id: str, expires_at: int
) -> str:
    return base64.b64encode(key.sign(approval_message(node, tool, args, approval_id, expires_at))).decode()


def public_key_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def load_public_key(b64: str) -> Ed25519PublicKey:
    """The server key as `firstline node enroll` prints it (base64 of the 32 raw bytes)."""
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"server_key is not a base64 Ed25519 public key: {exc}") from None


class ApprovalLedger:
    """Checks approvals and remembers the used ones until they expire (in memory: an expired id is
    worthless anyway, so a restarted node loses nothing that matters)."""

    def __init__(self, key: Ed25519PublicKey, node: str, clock: Callable[[], float] = time.time) -> None:
        self.key, self.node, self.clock = key, node, clock
        self.used: dict[str, int] = {}

    def check(
        self, tool: str, args: dict[str, Any], approval_id: str, expires_at: int, signature: str
    ) -> str | None:
        """None when the approval is good for this call (and now spent); otherwise why it is refused."""
        now = self.clock()
        self.used = {k: exp for k, exp in self.used.items() if exp >= now}
        if expires_at < now:
            return f"approval {approval_id} expired"
        if expires_at > now + MAX_TTL_S:
            return f"approval {approval_id} claims to be valid for more than {MAX_TTL_S}s"
        if approval_id in self.used:
            return f"approval {approval_id} was already used"
        try:
            sig = base64.b64decode(signature, validate=True)
            self.key.verify(sig, approval_message(self.node, tool, args, approval_id, expires_at))
        except (binascii.Error, ValueError, InvalidSignature):
            return f"approval {approval_id} is not signed by this node's server for this exact call"
        self.used[approval_id] = expires_at
        return None
