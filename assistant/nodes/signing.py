"""The server's approval-signing key: made once, shared by every replica, its public half given to nodes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from assistant.config import Settings
from tools.node import approval
from tools.node.protocol import Approval


def key_path(settings: Settings) -> Path:
    return settings.nodes.signing_key_file or settings.home / "node-signing.key"


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Read the key, or create it (mode 0600) if there is none; two replicas starting at once agree."""
    path = key_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{path} is not an Ed25519 private key")
    return key


def public_key(settings: Settings) -> str:
    return approval.public_key_b64(load_signing_key(settings))


class Signer:
    """Signs one approved write call for one node (loaded lazily: read-only servers never need the key)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key: Ed25519PrivateKey | None = None

    def sign(self, node: str, tool: str, args: dict[str, Any], approval_id: str) -> Approval:
        if self._key is None:
            self._key = load_signing_key(self.settings)
        expires = int(time.time()) + self.settings.nodes.approval_ttl_s
        return Approval(
            approval_id=approval_id,
            expires_at=expires,
            signature=approval.sign(self._key, node, tool, args, approval_id, expires),
        )
