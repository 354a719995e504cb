"""Enrolment: node names, labels and tokens; who is connected where.

A token is `fln_<id>_<secret>`: shown once by `firstline node enroll`, stored as its id
and a SHA-256 of the secret, compared in constant time. Enrolling a name again issues a
new token (the old one stops working); revoking keeps the row (for the audit trail's
sake) and refuses the token from then on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from assistant.store.errors import NotFound
from assistant.store.models import NodeRow

NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_TOKEN = re.compile(r"^fln_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise ValueError(f"invalid node name {name!r}: lowercase letters, digits, '.' and '-', up to 63")
    return name


def parse_labels(items: list[str] | str) -> dict[str, str]:
    """`role=web,env=prod` or ["role=web", "env=prod"] -> {"role": "web", "env": "prod"}."""
    parts = items.split(",") if isinstance(items, str) else [p for i in items for p in i.split(",")]
    out: dict[str, str] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not LABEL.match(key) or not LABEL.match(value):
            raise ValueError(f"invalid label {part!r}: use key=value (letters, digits, '.', '_', '-')")
        out[key] = value
    return out


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Enrolled:
    node: NodeRow
    token: str
    """Shown once; never stored."""


def enroll(db: Session, *, name: str, labels: dict[str, str]) -> Enrolled:
    """Create the node (or re-issue its token, keeping its facts); the old token stops working at once."""
    check_name(name)
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    row = db.get(NodeRow, name)
    if row is None:
        row = NodeRow(name=name, labels=labels, token_id=token_id, token_hash=_hash(secret))
    else:
        row.labels, row.token_id, row.token_hash, row.revoked_at = labels, token_id, _hash(secret), None
        row.created_at = datetime.now(UTC)
    db.add(row)
    db.flush()
    return Enrolled(row, f"fln_{token_id}_{secret}")


def revoke(db: Session, *, name: str) -> NodeRow:
    row = db.get(NodeRow, name)
    if row is None:
        raise NotFound("node", name)
    row.revoked_at = row.revoked_at or datetime.now(UTC)
    row.connected = False
    db.add(row)
    return row


def authenticate(db: Session, token: str) -> NodeRow | None:
    """The node this token belongs to, if it is valid and not revoked."""
    m = _TOKEN.match(token or "")
    if not m:
        return None
    row = db.exec(select(NodeRow).where(NodeRow.token_id == m.group(1))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row if hmac.compare_digest(row.token_hash, _hash(m.group(2))) else None


def token_valid(db: Session, *, name: str, token_id: str) -> bool:
    row = db.get(NodeRow, name)
    return row is not None and row.revoked_at is None and row.token_id == token_id


def get_node(db: Session, *, name: str) -> NodeRow:
    row = db.get(NodeRow, name)
    if row is None:
        raise NotFound("node", name)
    return row


def list_nodes(db: Session, *, include_revoked: bool = False) -> list[NodeRow]:
    stmt = select(NodeRow).order_by(col(NodeRow.name))
    if not include_revoked:
        stmt = stmt.where(col(NodeRow.revoked_at).is_(None))
    return list(db.exec(stmt))


def matching(db: Session, selector: dict[str, str]) -> list[NodeRow]:
    """Enrolled, unrevoked nodes carrying every label of the selector."""
    return [n for n in list_nodes(db) if all(n.labels.get(k) == v for k, v in selector.items())]


def record_hello(
    db: Session,
    *,
    name: str,
    replica: str,
    facts: dict[str, Any],
    policy: dict[str, Any],
    version: str,
    labels: dict[str, str],
) -> NodeRow:
    row = get_node(db, name=name)
    # Labels choose group membership, so only enrolment sets them; what the node says is shown as a fact.
    row.facts = {**facts, **({"node_labels": labels} if labels else {})}
    row.policy, row.version = policy, version[:32]
    row.connected, row.replica, row.last_seen = True, replica, datetime.now(UTC)
    db.add(row)
    return row


def touch(db: Session, *, names: list[str], replica: str) -> None:
    now = datetime.now(UTC)
    for row in db.exec(select(NodeRow).where(col(NodeRow.name).in_(names))):
        row.last_seen, row.connected, row.replica = now, True, replica
        db.add(row)


def mark_disconnected(db: Session, *, name: str, replica: str) -> None:
    row = db.get(NodeRow, name)
    if row is not None and row.replica == replica:  # a newer connection elsewhere stays marked
        row.connected, row.last_seen = False, datetime.now(UTC)
        db.add(row)


def node_json(row: NodeRow) -> dict[str, Any]:
    """What `firstline nodes` and /api/nodes show."""
    return {
        "name": row.name,
        "labels": row.labels,
        "connected": row.connected and row.revoked_at is None,
        "last_seen": row.last_seen.isoformat() if row.last_seen else None,
        "facts": row.facts,
        "version": row.version,
        "token_id": row.token_id,
        "policy": row.policy,
        "revoked": row.revoked_at is not None,
        "created_at": row.created_at.isoformat(),
    }


def node_config_text(server: str, name: str, token: str, server_key: str, labels: dict[str, str]) -> str:
    """The host's /etc/firstline/node.toml (mode 0600: it holds the token)."""
    label_lines = "".join(f'{k} = "{v}"\n' for k, v in sorted(labels.items()))
    return (
        f'server = "{server}"\nname = "{name}"\ntoken = "{token}"\nserver_key = "{server_key}"\n\n'
        f'[labels]\n{label_lines}\n[policy]\n# allow_tools = ["service_status", "log_tail", "restart_service"]\n'
        'read_only = false\nlog_roots = ["/var/log"]\nhttp_allow = ["localhost", "127.0.0.1"]\n'
        '# [policy.arg_limits]\n# restart_service = { service = ["nginx"] }\n'
    )
