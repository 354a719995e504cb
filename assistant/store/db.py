"""Engines for any SQLAlchemy URL, with the SQLite settings concurrent writers need.

SQLite: WAL (readers never block the writer), a busy timeout (writers wait instead of
failing) and foreign keys on. Write transactions begin IMMEDIATE so two writers never
deadlock upgrading a read lock. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

BUSY_TIMEOUT_MS = 15_000
_BEGIN_MODES = {"DEFERRED", "IMMEDIATE"}


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or opened (the API answers 503)."""


def normalize_url(url: str) -> str:
    """Accept the URLs people paste: `postgresql://` and `postgres://` mean psycopg 3 here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


POOL_SIZE, MAX_OVERFLOW = 10, 20
"""PostgreSQL's pool per process unless configured (FIRSTLINE_DB_POOL_SIZE, FIRSTLINE_DB_MAX_OVERFLOW)."""


def open_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    prepared_statements: bool = True,
) -> Engine:
    """An engine for `url`; creates the SQLite file's directory when needed. The pool sizes apply to
    client-server databases; SQLite keeps its own (its writers queue on one file lock anyway).
    `prepared_statements=False` stops psycopg preparing frequent statements server-side, for a
    transaction-mode PgBouncer older than 1.21 (or without max_prepared_statements)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, echo)
    connect_args: dict = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = 5
        if not prepared_statements:
            connect_args["prepare_threshold"] = None
    return create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=POOL_SIZE if pool_size is None else pool_size,
        max_overflow=MAX_OVERFLOW if max_overflow is None else max_overflow,
        connect_args=connect_args,
    )


def _sqlite_engine(url: str, database: str | None, echo: bool) -> Engine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        pool_size=8,
        max_overflow=16,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = (
            None  # we issue BEGIN ourselves (pysqlite's implicit BEGIN is unreliable)
        )
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", "DEFERRED")).upper()
        conn.exec_driver_sql(f"BEGIN {mode if mode in _BEGIN_MODES else 'DEFERRED'}")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A short read-only session."""
    with Session(engine, expire_on_commit=False) as db:
        yield db


@contextmanager
def writing(engine: Engine) -> Iterator[Session]:
    """One write transaction: committed on success, rolled back on error."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    with Session(bind, expire_on_commit=False) as db, db.begin():
        yield db
