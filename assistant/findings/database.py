"""Database connection exhaustion: server at max_connections, client pools drained, leaked sessions."""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Observation, analyzer, call, make_finding

_TOO_MANY = re.compile(
    r"sorry, too many clients already|remaining connection slots are reserved|"
    r"\bToo many connections\b|too many connections for (?:role|database)|no more connections allowed",
    re.IGNORECASE,
)
_SERVER_AT = re.compile(r"server at \"(?P<host>[^\"]+)\"|host \"(?P<host2>[^\"]+)\"")
_POOL = [
    re.compile(
        r"(?P<pool>QueuePool) limit of size (?P<size>\d+) overflow (?P<overflow>\d+) reached"
        r"(?:.*?timeout (?P<timeout>[\d.]+))?"
    ),
    re.compile(
        r"(?<![\w-])(?P<pool>HikariPool-\d+|[\w-]{0,40}Pool[\w-]{0,40}) - Connection is not available, request timed out after "
        r"(?P<timeout>\d+)ms"
    ),
    re.compile(
        r"(?P<pool>pool) (?:is )?exhausted|Timeout acquiring a connection\. The (?P<pool2>pool) is probably full|"
        r"timeout exceeded when trying to connect",
        re.IGNORECASE,
    ),
]
_IDLE_TX = re.compile(r"postgres: (?:\d+/)?(?:[\w-]+: )?(?P<user>\S+) (?P<db>\S+) \S+ idle in transaction")
_BACKEND = re.compile(r"postgres: (?:\d+/)?(?:[\w-]+: )?\S+ \S+ \S+ (?:idle|active|idle in transaction)\b")


@analyzer
def db_max_connections(obs: Observation) -> list[Finding]:
    """The database refuses new sessions: `FATAL:  sorry, too many clients already` and friends."""
    lines = obs.grep(_TOO_MANY)
    if not lines:
        return []
    host = next((m.group("host") or m.group("host2") for ln in lines if (m := _SERVER_AT.search(ln))), None)
    mysql = any("too many connections" in ln.lower() and "fatal" not in ln.lower() for ln in lines)
    engine = "mysql" if mysql else "postgresql"
    return [
        make_finding(
            obs,
            "db-max-connections",
            f"{engine} on {host or 'the database server'} refuses new connections: max_connections reached"
            + (f" ({len(lines)} times)" if len(lines) > 1 else ""),
            lines,
            {"server": host or engine, "engine": engine, "count": len(lines)},
            severity="critical",
            confidence=0.9,
            next_checks=[
                call("process_list", match="postgres" if engine == "postgresql" else "mysqld"),
                call("service_status", service=engine),
            ],
            remediation="Free connections held by idle or leaked sessions (restart the client that leaks them, "
            "restart_service needs approval), then fix the leak or put a pooler in front; raising "
            "max_connections needs a database restart.",
        )
    ]


@analyzer
def pool_exhausted(obs: Observation) -> list[Finding]:
    """The application's own pool is empty: SQLAlchemy QueuePool, HikariCP, node-postgres timeouts."""
    by_pool: dict[str, tuple[list[str], dict]] = {}
    for ln in obs.lines:
        for rx in _POOL:
            m = rx.search(ln)
            if m:
                g = {k: v for k, v in m.groupdict().items() if v}
                pool = g.pop("pool", None) or g.pop("pool2", None) or "pool"
                entry = by_pool.setdefault(pool, ([], g))
                entry[0].append(ln.strip())
                break
    out = []
    for pool, (lines, g) in by_pool.items():
        size = f" (size {g['size']} + overflow {g['overflow']})" if "size" in g else ""
        out.append(
            make_finding(
                obs,
                "connection-pool-exhausted",
                f"application connection pool {pool} exhausted{size}: requests wait and time out",
                lines,
                {
                    "pool": pool,
                    "size": _int(g.get("size")),
                    "overflow": _int(g.get("overflow")),
                    "timeout": g.get("timeout"),
                    "count": len(lines),
                },
                severity="high",
                confidence=0.85,
                next_checks=[
                    call("service_status", service="postgresql"),
                    call("process_list", match="postgres"),
                ],
            )
        )
    return out


@analyzer
def idle_in_transaction(obs: Observation) -> list[Finding]:
    """Many backends `idle in transaction` in ps: a client holds connections open without finishing."""
    idle = [ln.strip() for ln in obs.lines if _IDLE_TX.search(ln)]
    backends = [ln for ln in obs.lines if _BACKEND.search(ln)]
    if len(idle) < 5 or len(idle) * 3 < len(backends):
        return []
    clients: dict[str, int] = {}
    for ln in idle:
        m = _IDLE_TX.search(ln)
        if m:
            key = f"{m.group('user')}@{m.group('db')}"
            clients[key] = clients.get(key, 0) + 1
    top = max(clients, key=lambda k: clients[k]) if clients else None
    return [
        make_finding(
            obs,
            "db-idle-in-transaction",
            f"{len(idle)} of {len(backends)} postgres backends are idle in transaction"
            + (f" (mostly {top})" if top else ""),
            idle[:3],
            {
                "server": "postgresql",
                "idle_in_transaction": len(idle),
                "backends": len(backends),
                "client": top,
            },
            severity="high",
            confidence=0.8,
            remediation="Find and fix the client that opens transactions without committing; restarting it "
            "(restart_service, needs approval) releases the sessions now.",
        )
    ]


# ps aux: ... STAT START TIME COMMAND; START is a date (Nov28, 2025) once the process is older than a day.
_PS_START = re.compile(r"\s(?P<start>[A-Z][a-z]{2}\d{1,2}|\d{4}|\d{1,2}:\d{2})\s+\d+:\d{2}\s+postgres:")
_ETIME_DAYS = re.compile(r"\s(?P<start>\d+-\d{2}:\d{2}:\d{2})\s")
_IDLE_FROM = re.compile(
    r"postgres: (?:\d+/)?(?:[\w-]+: )?(?P<user>\S+) (?P<db>\S+) (?P<client>[\w.:\[\]-]+?)(?:\(\d+\))? idle in transaction"
)
_WRAPAROUND = re.compile(r"postgres: (?:\d+/)?(?:[\w-]+: )?autovacuum worker[^\n]*\(to prevent wraparound\)")


def _age(ln: str) -> str | None:
    """How old a ps line's process is when it is older than a day (a date START, or an etime with days)."""
    m = _ETIME_DAYS.search(ln)
    if m:
        return f"running for {m.group('start')}"
    m = _PS_START.search(ln)
    if m and not re.fullmatch(r"\d{1,2}:\d{2}", m.group("start")):
        return f"open since {m.group('start')}"
    return None


@analyzer
def long_idle_transaction(obs: Observation) -> list[Finding]:
    """A backend `idle in transaction` since another day (ps START/ELAPSED): its open transaction holds back
    the xmin horizon (vacuum cannot remove dead rows) and keeps its locks. Also an anti-wraparound autovacuum
    worker, which says itself why it runs."""
    if "postgres:" not in obs.output:
        return []
    out = []
    old = [(ln.strip(), age) for ln in obs.lines if _IDLE_FROM.search(ln) and (age := _age(ln))]
    if old:
        line, age = old[0]
        m = _IDLE_FROM.search(line)
        assert m
        pid = next((w for w in line.split()[1:2] if w.isdigit()), None)
        who = f"{m.group('user')}@{m.group('db')} from {m.group('client')}"
        out.append(
            make_finding(
                obs,
                "db-long-transaction",
                f"a PostgreSQL session ({who}, pid {pid or '?'}) has been idle in transaction, {age}",
                [ln for ln, _ in old[:3]],
                {
                    "server": "postgresql",
                    "pid": pid,
                    "client": m.group("client"),
                    "user": m.group("user"),
                    "db": m.group("db"),
                    "age": age,
                    "count": len(old),
                },
                severity="high",
                confidence=0.85,
                remediation=f"End the forgotten transaction: `SELECT pg_terminate_backend({pid or '<pid>'});` "
                "(needs approval), then fix the client that leaves transactions open and set "
                "idle_in_transaction_session_timeout; vacuum can then remove the dead rows.",
            )
        )
    wrap = obs.grep(_WRAPAROUND)
    if wrap:
        out.append(
            make_finding(
                obs,
                "db-wraparound-vacuum",
                "an autovacuum worker is vacuuming to prevent transaction ID wraparound",
                wrap[:2],
                {"server": "postgresql", "count": len(wrap)},
                severity="high",
                confidence=0.8,
                remediation="Let the anti-wraparound vacuum finish (do not cancel it; it restarts); end long-open "
                "transactions that hold back the xmin horizon so it can freeze rows.",
            )
        )
    return out


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


_AUTH_FAILED = [
    re.compile(r"password authentication failed for user \\?\"?(?P<user>[\w.@-]+)"),
    re.compile(r"no pg_hba\.conf entry for host \"(?P<host>[^\"]+)\", user \"(?P<user>[^\"]+)\""),
    re.compile(r"Access denied for user '(?P<user>[^']+)'@'(?P<host>[^']+)'"),
    re.compile(r"authentication failed for user \"?(?P<user>[\w.@-]+)", re.IGNORECASE),
]


@analyzer
def db_auth_failed(obs: Observation) -> list[Finding]:
    """The database rejects the application's credentials (wrong/rotated password, pg_hba, MySQL grants)."""
    by_user: dict[str, list[str]] = {}
    for ln in obs.lines:
        m = next((m for rx in _AUTH_FAILED if (m := rx.search(ln))), None)
        if m:
            by_user.setdefault(m.group("user"), []).append(ln.strip())
    return [
        make_finding(
            obs,
            "db-auth-failed",
            f"the database rejects the credentials of user {user} (authentication failed"
            + (f", {len(lines)} times)" if len(lines) > 1 else ")"),
            lines,
            {"user": user, "count": len(lines)},
            severity="critical",
            confidence=0.9,
            remediation="Give the application the database credentials that are current (e.g. after a rotation its "
            "config or secret still has the old password), then restart it (restart_service, needs approval).",
        )
        for user, lines in by_user.items()
    ]


_LOCK_WAIT = re.compile(
    r"process (?P<pid>\d+) still waiting for (?P<mode>\w+Lock) on (?P<what>relation \d+|"
    r"transaction \d+|tuple \([^)]*\) of relation \d+|[\w ]+?)(?: of database \d+)? after"
)
_HOLDER = re.compile(r"Process holding the lock: (?P<holder>\d+)\. Wait queue: (?P<queue>[\d, ]+)")
_PS_WAITING = re.compile(r"postgres: (?:\d+/)?(?:[\w-]+: )?\S+ \S+ \S+ (?P<stmt>[A-Z][A-Z ]*?) waiting\s*$")


@analyzer
def db_lock_waits(obs: Observation) -> list[Finding]:
    """Sessions queued on a lock (`still waiting for AccessExclusiveLock`, ps `... waiting`) and who holds it."""
    waits = [(ln.strip(), m) for ln in obs.lines if (m := _LOCK_WAIT.search(ln))]
    holder = next((m for ln in obs.lines if (m := _HOLDER.search(ln))), None)
    ps_waiting = [(ln.strip(), m) for ln in obs.lines if (m := _PS_WAITING.search(ln))]
    if not waits and not ps_waiting:
        return []
    holder_line = next((ln.strip() for ln in obs.lines if holder and _HOLDER.search(ln)), None)
    modes = sorted({m.group("mode") for _, m in waits})
    what = waits[0][1].group("what") if waits else None
    statements = [m.group("stmt") for _, m in ps_waiting]
    pid = int(holder.group("holder")) if holder else None
    title = (
        f"sessions wait for {'/'.join(modes) or 'a lock'}"
        + (f" on {what}" if what else "")
        + (f", held by pid {pid}" if pid else "")
        + (f" ({', '.join(statements[:2])} waiting)" if statements else "")
    )
    return [
        make_finding(
            obs,
            "db-lock-wait",
            title,
            [*(w[0] for w in waits[:2]), holder_line or "", *(p[0] for p in ps_waiting[:2])],
            {
                "relation": what,
                "locks": modes or None,
                "holder_pid": pid,
                "waiting": len(waits) or len(ps_waiting),
                "statements": statements or None,
            },
            severity="critical",
            confidence=0.85,
            next_checks=[call("process_list", match="postgres")],
            fixes=[call("kill_process", pid=pid)] if pid else [],
            remediation=(
                f"End the session holding the lock (pid {pid}: pg_terminate_backend, or "
                f"{call('kill_process', pid=pid)} on the backend, needs approval)"
                if pid
                else "End the session holding the lock (pg_terminate_backend)"
            )
            + " or cancel the waiting migration; run migrations with a lock_timeout.",
        )
    ]


_WAL_GONE = re.compile(
    r"requested WAL segment (?P<segment>\w+) has already been removed|"
    r"could not receive data from WAL stream|Got fatal error 1236 from (?:master|source)"
)


@analyzer
def replication_broken(obs: Observation) -> list[Finding]:
    """A replica cannot follow its primary: the WAL/binlog it needs is gone."""
    lines = obs.grep(_WAL_GONE)
    if not lines:
        return []
    segment = next((m.group(1) for ln in lines if (m := re.search(r"WAL segment (\w+)", ln))), None)
    return [
        make_finding(
            obs,
            "db-replication-broken",
            "replication is broken: the primary already removed the WAL"
            + (f" segment {segment}" if segment else "")
            + " the replica still needs",
            lines[-2:],
            {"server": "replica", "segment": segment, "count": len(lines)},
            severity="critical",
            confidence=0.9,
            remediation="Re-seed the replica (pg_basebackup) or restore the missing WAL from the archive; use a "
            "replication slot or a larger wal_keep_size so the primary keeps what the replica needs.",
        )
    ]
