"""Schema migrations: an append-only list, applied in order, recorded in `schema_version`.

Each migration states its DDL explicitly (never derived from the current models), so an
old database and a new one end in the same schema. Never edit or remove a migration;
add a new one. Concurrent starters are serialised (PostgreSQL advisory lock, SQLite
BEGIN IMMEDIATE), so several server processes may start at once.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

MIGRATIONS: list[Callable[[Connection], None]] = []
_LOCK_KEY = 0x46697273  # "Firs": advisory lock id for PostgreSQL


def migration(fn: Callable[[Connection], None]) -> Callable[[Connection], None]:
    MIGRATIONS.append(fn)
    return fn


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _sid() -> sa.Column:
    return sa.Column(
        "session_id", sa.String(64), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
    )


@migration
def m001_initial(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
    )
    sa.Table(
        "turns",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        _sid(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("owner_host", sa.String(255), nullable=False),
        sa.Column("owner_pid", sa.Integer, nullable=False),
        sa.Column("owner_boot", sa.String(64), nullable=False),
        sa.Index("ix_turns_session_id", "session_id"),
        sa.Index("ix_turns_status", "status"),
    )
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _sid(),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("turn_id", sa.String(64)),
        sa.Column("data", sa.JSON, nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("session_id", "seq", name="uq_events_session_seq"),
    )
    sa.Table(
        "messages",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _sid(),
        sa.Column("turn_id", sa.String(64)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        _ts("created_at"),
        sa.Index("ix_messages_session_id", "session_id"),
    )
    sa.Table(
        "tool_calls",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _sid(),
        sa.Column("turn_id", sa.String(64)),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        _ts("started_at"),
        sa.Column("duration_ms", sa.Float),
        sa.Column("exit_code", sa.Integer),
        sa.Column("ok", sa.Boolean),
        sa.Column("output", sa.Text),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("source", sa.String(64)),
        sa.Column("output_sha256", sa.String(64)),
        sa.UniqueConstraint("session_id", "call_id", name="uq_tool_calls_session_call"),
    )
    sa.Table(
        "findings",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _sid(),
        sa.Column("turn_id", sa.String(64)),
        sa.Column("finding_id", sa.String(128), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("next_checks", sa.JSON, nullable=False),
        sa.Column("remediation", sa.Text),
        sa.Column("facts", sa.JSON, nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("session_id", "finding_id", name="uq_findings_session_finding"),
    )
    sa.Table(
        "approvals",
        md,
        sa.Column("id", sa.String(128), primary_key=True),
        _sid(),
        sa.Column("turn_id", sa.String(64)),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("comment", sa.Text),
        _ts("decided_at", nullable=True),
        _ts("created_at"),
        sa.Index("ix_approvals_session_id", "session_id"),
    )
    md.create_all(conn)


@migration
def m002_pir_drafts(conn: Connection) -> None:
    """Post-incident review drafts (assistant/pir): every version kept, numbered per session."""
    md = sa.MetaData()
    sa.Table("sessions", md, sa.Column("id", sa.String(64), primary_key=True))  # for the foreign key only
    drafts = sa.Table(
        "pir_drafts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _sid(),
        sa.Column("version", sa.Integer, nullable=False),
        _ts("created_at"),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.UniqueConstraint("session_id", "version", name="uq_pir_drafts_session_version"),
    )
    md.create_all(conn, tables=[drafts])


@migration
def m003_audit_log(conn: Connection) -> None:
    """The hash-chained audit trail (assistant/store/audit.py). No foreign key: entries outlive deleted sessions."""
    md = sa.MetaData()
    log = sa.Table(
        "audit_log",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("turn_id", sa.String(64)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(128)),
        sa.Column("approval_id", sa.String(128)),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("duration_ms", sa.Float),
        sa.Column("output_sha256", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Index("ix_audit_log_at", "at"),
        sa.Index("ix_audit_log_session_id", "session_id"),
    )
    head = sa.Table(
        "audit_head",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    md.create_all(conn, tables=[log, head])
    conn.execute(sa.insert(head).values(id=1, seq=0, hash="0" * 64))


@migration
def m004_finding_resolution(conn: Connection) -> None:
    """A finding resolved by a verified fix (assistant/verify.py): when, and by which re-check."""
    conn.execute(
        sa.text(
            "ALTER TABLE findings ADD COLUMN resolved_at TIMESTAMP WITH TIME ZONE"
            if conn.dialect.name == "postgresql"
            else "ALTER TABLE findings ADD COLUMN resolved_at DATETIME"
        )
    )
    conn.execute(sa.text("ALTER TABLE findings ADD COLUMN resolved_by VARCHAR(128)"))


@migration
def m005_nodes(conn: Connection) -> None:
    """Enrolled nodes (assistant/nodes) and the calls routed to them through the database between replicas."""
    md = sa.MetaData()
    nodes = sa.Table(
        "nodes",
        md,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("token_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("connected", sa.Boolean, nullable=False),
        sa.Column("replica", sa.String(128), nullable=False),
        _ts("last_seen", nullable=True),
        sa.UniqueConstraint("token_id", name="uq_nodes_token_id"),
    )
    calls = sa.Table(
        "node_calls",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("approval", sa.JSON),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("claimed_by", sa.String(128)),
        _ts("created_at"),
        _ts("finished_at", nullable=True),
        sa.Index("ix_node_calls_node_status", "node", "status"),
    )
    md.create_all(conn, tables=[nodes, calls])


@migration
def m006_replica_leases(conn: Connection) -> None:
    """Turn ownership as a lease (store/lease.py): a row per replica with its heartbeat, and the owner's id on
    each turn. Times are epoch seconds by the database's clock."""
    md = sa.MetaData()
    replicas = sa.Table(
        "replicas",
        md,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("boot", sa.String(64), nullable=False),
        sa.Column("pid_ns", sa.String(64), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )
    md.create_all(conn, tables=[replicas])
    conn.execute(sa.text("ALTER TABLE turns ADD COLUMN owner_replica VARCHAR(36)"))


@migration
def m007_users(conn: Connection) -> None:
    """Named users with a role and a hashed bearer token (issue 15: approvals bound to a person)."""
    md = sa.MetaData()
    users = sa.Table(
        "users",
        md,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("disabled_at", nullable=True),
        sa.UniqueConstraint("name", name="uq_users_name"),
        sa.UniqueConstraint("token_hash", name="uq_users_token"),
    )
    md.create_all(conn, tables=[users])


_VERSION = sa.Table("schema_version", sa.MetaData(), sa.Column("version", sa.Integer, nullable=False))


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(sa.select(sa.func.max(_VERSION.c.version))).scalar() or 0)


def migrate(engine: Engine) -> int:
    """Apply every pending migration; return the schema version reached. Safe to call on every start."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine
    with bind.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        _VERSION.metadata.create_all(conn, checkfirst=True)
        version = current_version(conn)
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"database schema version {version} is newer than this Firstline "
                f"({len(MIGRATIONS)}); upgrade Firstline"
            )
        for number, fn in enumerate(MIGRATIONS[version:], start=version + 1):
            fn(conn)
            conn.execute(sa.delete(_VERSION))
            conn.execute(sa.insert(_VERSION).values(version=number))
        return current_version(conn)
