"""Where a service writes its own log, by the conventions of that kind of software.

Many daemons log to a file of their own (MySQL's error log, Elasticsearch's `<cluster>.log`, PHP-FPM's
`php8.2-fpm.log`) while their journal holds only "Started ...": reading one and not the other misses the
line that says why. The places come from the package's conventions (Debian/Ubuntu first, then RHEL), with
blanks filled from what outputs printed: the PHP version in a unit or socket name, Elasticsearch's cluster
name, a `--log-error=` or `logfile` setting on a command line or in a status line.
"""

from __future__ import annotations

import re

from assistant.runbook.conversation import Conversation

LOG_FILES = {
    "nginx": ["/var/log/nginx/error.log"],
    "apache2": ["/var/log/apache2/error.log"],
    "httpd": ["/var/log/httpd/error_log"],
    "haproxy": ["/var/log/haproxy.log"],
    "mysql": ["/var/log/mysql/error.log", "/var/log/mysqld.log"],
    "mariadb": ["/var/log/mysql/error.log", "/var/log/mariadb/mariadb.log"],
    "redis-server": ["/var/log/redis/redis-server.log", "/var/log/redis/redis.log"],
    "mongod": ["/var/log/mongodb/mongod.log"],
    "rabbitmq-server": ["/var/log/rabbitmq/rabbit@{host}.log", "/var/log/rabbitmq/rabbit.log"],
    "kernel": ["/var/log/kern.log", "/var/log/syslog"],
    "elasticsearch": ["/var/log/elasticsearch/{es}.log", "/var/log/elasticsearch/elasticsearch.log"],
    "opensearch": ["/var/log/opensearch/{es}.log", "/var/log/opensearch/opensearch.log"],
    "kafka": ["/var/log/kafka/server.log"],
    "zookeeper": ["/var/log/zookeeper/zookeeper.log"],
    "cassandra": ["/var/log/cassandra/system.log"],
    "php-fpm": ["/var/log/php{php}-fpm.log", "/var/log/php-fpm/error.log", "/var/log/php-fpm/www-error.log"],
    "postfix": ["/var/log/mail.log", "/var/log/maillog"],
    "squid": ["/var/log/squid/cache.log"],
    "pgbouncer": ["/var/log/postgresql/pgbouncer.log"],
    "grafana-server": ["/var/log/grafana/grafana.log"],
    "clickhouse-server": [
        "/var/log/clickhouse-server/clickhouse-server.err.log",
        "/var/log/clickhouse-server/clickhouse-server.log",
    ],
    "tomcat": ["/var/log/tomcat{tomcat}/catalina.out"],
}
"""Where packages write a service's own log; `{host}`, `{php}`, `{es}`, `{tomcat}` are filled from output seen."""

_KINDS = [
    (re.compile(r"^php[\d.]*-?fpm[\d.]*$"), "php-fpm"),
    (re.compile(r"^mysqld?$"), "mysql"),
    (re.compile(r"^mariadbd?$"), "mariadb"),
    (re.compile(r"^redis(?:-server)?$"), "redis-server"),
    (re.compile(r"^rabbitmq(?:-server)?$"), "rabbitmq-server"),
    (re.compile(r"^mongod(?:b)?$"), "mongod"),
    (re.compile(r"^tomcat\d*$"), "tomcat"),
    (re.compile(r"^(?:kafka|confluent-kafka)$"), "kafka"),
    (re.compile(r"^grafana(?:-server)?$"), "grafana-server"),
    (re.compile(r"^clickhouse(?:-server)?$"), "clickhouse-server"),
]
_PHP = re.compile(r"\bphp-?(\d\.\d+)(?:-fpm\b|/fpm\b)|/etc/php/(\d\.\d+)/")
_ES_CLUSTER = re.compile(
    r"\"cluster_name\"\s*:\s*\"(?P<a>[\w.-]+)\"|\bcluster\.name[:=]\s*\"?(?P<b>[\w.-]+)|"
    r"/var/log/(?:elastic|open)search/(?P<c>[\w.-]+?)(?:_server)?\.(?:log|json)\b"
)
_LOG_SETTING = re.compile(
    r"(?:--log[-_]error|--log[-_]?file|--log[-_]?path|\blogfile|\berror_log|\blog_file|\bLOG_FILE|-Des\.path\.logs|"
    r"\bpath\.logs)\s*[=:\s]\s*[\"']?(?P<path>/[\w./@-]+)",
    re.IGNORECASE,
)
_LOG_PATH = re.compile(r"(?<![\w./-])(/var/log/[\w./@-]+\.(?:log|err|out))\b")


def log_kind(svc: str) -> str | None:
    """The LOG_FILES entry a unit or process name belongs to (`php8.2-fpm` → php-fpm, `mysqld` → mysql)."""
    name = svc.removesuffix(".service")
    if name in LOG_FILES:
        return name
    for rx, kind in _KINDS:
        if rx.match(name):
            return kind
    return None


def _blanks(conv: Conversation, svc: str) -> dict[str, str | None]:
    texts = [svc, *(c.output for c in conv.calls)]
    php = next((m.group(1) or m.group(2) for t in texts for m in _PHP.finditer(t)), None)
    unit_php = re.match(r"^php(\d\.\d+)", svc)
    es = next(
        (m.group("a") or m.group("b") or m.group("c") for t in texts[1:] for m in _ES_CLUSTER.finditer(t)),
        None,
    )
    tomcat = re.match(r"^tomcat(\d+)$", svc)
    host = (conv.hosts or [conv.target_name or "localhost"])[0].split(".")[0]
    return {
        "php": unit_php.group(1) if unit_php else php,
        "es": es,
        "tomcat": tomcat.group(1) if tomcat else None,
        "host": host,
    }


def conventional(conv: Conversation, svc: str) -> list[str]:
    """The service's conventional log files on this host (a path whose blank cannot be filled is left out)."""
    kind = log_kind(svc)
    if kind is None:
        return []
    blanks = _blanks(conv, svc)
    out = []
    for path in LOG_FILES[kind]:
        names = re.findall(r"\{(\w+)\}", path)
        if any(not blanks.get(n) for n in names):
            continue
        out.append(path.format(**{n: blanks[n] for n in names}))
    return list(dict.fromkeys(out))


def stem(svc: str) -> str:
    """The word a service's paths contain (`php8.2-fpm` → php, `redis-server` → redis)."""
    return re.split(r"[-_.@\d]", svc, maxsplit=1)[0] or svc


def configured(conv: Conversation, svc: str) -> list[str]:
    """Log files this service's own output names: a `--log-error=`/`logfile` setting on a command line or in a
    status line, or a log path under /var/log that carries its name."""
    word = stem(svc)
    out: list[str] = []
    for c in conv.calls:
        about = any(word in str(v) for v in c.args.values()) or c.name == "process_list"
        for m in _LOG_SETTING.finditer(c.output):
            path = m.group("path").rstrip(".,;:'\"")
            line = c.output[c.output.rfind("\n", 0, m.start()) + 1 : c.output.find("\n", m.end())]
            if not (about and (word in line or word in path)):
                continue
            if re.search(r"\.(?:log|err|out|json)$", path):
                out.append(path)
            elif path.startswith("/var/log"):  # a log directory: the software's file name in it
                out += [f"{path.rstrip('/')}/{p.rsplit('/', 1)[1]}" for p in conventional(conv, svc)]
        out += [p for p in _LOG_PATH.findall(c.output) if word in p]
    return list(dict.fromkeys(out))


NAMING_CONFIG = {
    "elasticsearch": ("/etc/elasticsearch/elasticsearch.yml", "es", r"cluster\.name|path\.logs|path\.data"),
    "opensearch": ("/etc/opensearch/opensearch.yml", "es", r"cluster\.name|path\.logs|path\.data"),
}
"""Software whose log file is named by a setting: (its configuration file, the blank it fills, the keys to read)."""


def naming_config(conv: Conversation, svc: str) -> tuple[str, str] | None:
    """(config file, keys) to read when the setting that names this service's log file has not been seen."""
    kind = log_kind(svc)
    entry = NAMING_CONFIG.get(kind or "")
    if entry is None or _blanks(conv, svc).get(entry[1]):
        return None
    return entry[0], entry[2]


PROCESS_OF = {
    "postgresql": "postgres",
    "mysql": "mysqld",
    "mariadb": "mariadbd",
    "redis-server": "redis-server",
    "rabbitmq-server": "rabbitmq",
    "mongod": "mongod",
    "elasticsearch": "elasticsearch",
    "apache2": "apache2",
}
"""What a service's processes are called in ps when it differs from the unit's name."""


def process_name(svc: str) -> str:
    return PROCESS_OF.get(svc) or re.split(r"[-_.@]", svc)[0] or svc
