"""Host investigations look at the software that actually runs and read the log that holds the cause: technology
words name the software, a host name's prefix is only a last guess, a unit that does not exist is a gap to
discover around, and a journal that only says "failed" leads to the program's own log file."""

from __future__ import annotations

from test_runbook_strategy import HOST, Session, ok

from assistant.findings import analyze_text
from assistant.runbook.entities import extract

PS_MYSQL = (
    "USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\n"
    "mysql 1184 3.1 61.0 9211420 4981220 ? Ssl Nov28 212:40 /usr/sbin/mysqld\n"
)
NOT_FOUND = ("Unit {}.service could not be found.\n", 4, None)


def _not_found(unit: str) -> tuple[str, int, None]:
    text, code, err = NOT_FOUND
    return text.format(unit), code, err


# ------------------------------------------------------------------ what the message names


def test_technology_words_name_the_software_and_plain_words_are_no_units():
    e = extract(
        "Dashboards from db-ro-03 are stale, I think the SQL thread stopped after the upgrade on db-ro-03"
    )
    assert e.services == ["mysql"] and not e.guessed  # not db-ro (the host) nor 'upgrade'
    e = extract("Logins fail for half the users; requests that land on auth-03 fail")
    assert "land" not in e.services
    assert "redis-server" in extract("workers get DENIED, redis runs in protected mode on cache-05").services
    assert "elasticsearch" in extract("indexing fails: flood-stage watermark exceeded on search-01").services


def test_a_custom_unit_before_on_host_is_still_a_unit():
    assert extract("ordersvc on api-02 restarts every 90 s").services == ["ordersvc"]


def test_502s_in_the_plural_is_a_gateway_error():
    assert {"gateway", "5xx"} <= extract("intermittent 502s through edge-lb-04").symptoms


# ------------------------------------------------------------------ discovery


def test_a_guessed_host_name_is_checked_after_the_process_table_and_the_running_database_is_read():
    s = Session(HOST, "Dashboards that read from db-ro-03 show yesterday's numbers, replication looks stuck.")
    log = (
        "2026-12-02T23:14:05.118734Z 14 [ERROR] [MY-010584] [Repl] Replica SQL for channel '': Could not "
        "execute Write_rows event on table a.t; Duplicate entry '7' for key 't.PRIMARY', Error_code: 1062\n"
    )
    answer = s.run(
        {
            "process_list": ok(PS_MYSQL),
            "service_status:db-ro": _not_found("db-ro"),
            "service_status:mysql": ok("Active: active (running) since Fri 2026-11-28 06:02:11 UTC\n"),
            "log_tail:/var/log/mysql/error.log": ok(log),
        }
    )
    assert s.asked[0] == ("process_list", {})  # what runs, before any guess
    assert ("process_list", {"match": "postgres"}) not in s.asked  # no engine guessed
    assert ("service_status", {"service": "mysql"}) in s.asked
    assert "Duplicate entry" in answer or "1062" in answer


def test_a_unit_that_does_not_exist_is_a_gap_discovered_with_the_process_table_and_the_port():
    s = Session(HOST, "The booking-api on app-01 refuses connections on port 8080.")
    s.run({"service_status:booking-api": _not_found("booking-api")}, steps=4)
    assert ("process_list", {}) in s.asked
    assert ("port_owner", {"port": 8080}) in s.asked
    assert not any(a.get("source") == "unit:booking-api" for _, a in s.asked)  # no journal for a non-unit


def test_the_postgres_wrapper_is_resolved_from_the_process_titles_not_by_probing_versions():
    s = Session(HOST, "postgresql on app-01 refuses connections since a few minutes.")
    ps = (
        "postgres 9120 0.0 0.3 218000 26000 ? Ss 09:51 0:00 /usr/lib/postgresql/15/bin/postgres -D "
        "/var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf\n"
    )
    log = '2026-12-03 09:50:58.410 UTC [3402] PANIC:  could not write to file "pg_wal/x": No space left on device\n'
    answer = s.run(
        {
            "service_status:postgresql": ok(
                "Active: active (exited) since Mon 2026-11-30 02:00:10 UTC\n"
                "Process: 811 ExecStart=/bin/true (code=exited, status=0/SUCCESS)\n"
            ),
            "process_list:postgres": ok(ps),
            "log_tail:/var/log/postgresql/postgresql-15-main.log": ok(log),
        }
    )
    probed = [a["service"] for n, a in s.asked if n == "service_status" and "@" in a.get("service", "")]
    assert probed == ["postgresql@15-main"]
    assert "No space left on device" in answer


# ------------------------------------------------------------------ the log that holds the cause


def test_a_journal_that_only_says_failed_leads_to_the_programs_own_log():
    s = Session(HOST, "mongod on app-01 exits a second after every start. Why?")
    journal = (
        "Dec 03 09:40:02 app-01 systemd[1]: mongod.service: Main process exited, code=exited, status=14/n/a\n"
        "Dec 03 09:40:02 app-01 systemd[1]: mongod.service: Failed with result 'exit-code'.\n"
    )
    own = (
        '{"t":{"$date":"2026-12-03T09:40:02.212+00:00"},"s":"E","c":"NETWORK","id":23024,"ctx":"initandlisten",'
        '"msg":"Failed to unlink socket file","attr":{"path":"/tmp/mongodb-27017.sock","error":"Operation not '
        'permitted"}}\n'
    )
    answer = s.run(
        {
            "service_status:mongod": ("Active: failed (Result: exit-code)\n" + journal, 3, None),
            "log_tail:unit:mongod": ok(journal),
            "log_tail:/var/log/mongodb/mongod.log": ok(own),
        }
    )
    assert ("process_list", {"match": "postgres"}) not in s.asked
    assert "mongodb-27017.sock" in answer


def test_a_log_file_an_output_points_to_is_read():
    s = Session(HOST, "The nightly report-export job on app-01 failed at 01:00. What went wrong?")
    journal = "Dec 03 01:00:09 app-01 export[40112]: export aborted, see /var/log/report-export/run.log for details\n"
    answer = s.run(
        {
            "service_status:report-export": ("Active: failed (Result: exit-code)\n", 3, None),
            "log_tail:unit:report-export": ok(journal),
            "log_tail:/var/log/report-export/run.log": ok(
                "2026-12-03T01:00:03Z ERROR upload failed: getaddrinfo ENOTFOUND reports.corp.example.net\n"
            ),
        }
    )
    assert any(a.get("source") == "/var/log/report-export/run.log" for _, a in s.asked)
    assert "reports.corp.example.net" in answer


def test_a_refused_upstream_connect_with_eacces_reads_the_audit_log():
    s = Session(HOST, "Kibana through nginx on app-01 returns 502 Bad Gateway.")
    answer = s.run(
        {
            "service_status:nginx": ok("Active: active (running) since Wed 2026-12-02 08:00:14 UTC\n"),
            "log_tail:/var/log/nginx/error.log": ok(
                "2026/12/03 10:20:31 [crit] 1321#1321: *412 connect() to 127.0.0.1:5601 failed (13: Permission "
                "denied) while connecting to upstream, client: 10.1.0.8\n"
            ),
            "log_tail:/var/log/audit/audit.log": ok(
                'type=AVC msg=audit(1764757231.402:2231): avc:  denied  { name_connect } for  pid=1321 comm="nginx" '
                "dest=5601 scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:unreserved_port_t:s0 "
                "tclass=tcp_socket permissive=0\n"
            ),
        }
    )
    assert "name_connect" in answer and "httpd_can_network_connect" in answer


# ------------------------------------------------------------------ signatures of common failure classes


def _sigs(line: str) -> set[str]:
    return {f.signature for f in analyze_text("log_tail", line, args={"source": "/var/log/app.log"})}


def test_common_failure_classes_are_signatures_with_their_exact_line():
    assert "clock-skew" in _sigs('level=warn msg="rejecting token" err="jwt: token used before issued"')
    assert "cache-protected-mode" in _sigs(
        "ERR DENIED Redis is running in protected mode because protected mode is enabled"
    )
    assert "tls-key-mismatch" in _sigs(
        '[emerg] 9#9: SSL_CTX_use_PrivateKey("/etc/ssl/x.key") failed (SSL: error:05800074:x509 certificate '
        "routines::key values mismatch)"
    )
    found = analyze_text(
        "log_tail",
        "2026-12-02T23:14:05Z 14 [ERROR] [MY-010584] [Repl] Replica SQL for channel '': Duplicate entry '7' for key "
        "'t.PRIMARY', Error_code: 1062\n",
        args={"source": "/var/log/mysql/error.log"},
    )
    broken = next(f for f in found if f.signature == "db-replication-broken")
    assert broken.facts["code"] == "1062" and "Duplicate entry" in broken.evidence[0].lines[0]


def test_a_redis_startup_warning_alone_is_not_protected_mode_refusing_clients():
    assert "cache-protected-mode" not in _sigs("1:M 30 Nov 2026 10:01:02.123 # Server initialized")


def test_a_documentation_link_in_a_log_line_is_advice_not_a_dependency_to_call():
    found = analyze_text(
        "log_tail",
        "2026-05-09T23:58:02Z ERROR GET http://payments.internal:8443/v1 failed: upstream returned 503 "
        "(known issue, see https://github.com/jemalloc/jemalloc/issues/1328)\n",
        args={"source": "/var/log/redis/redis-server.log"},
    )
    urls = [c.args.get("url") for f in found for c in f.checks if c.tool == "http_check"]
    assert "http://payments.internal:8443/v1" in urls
    assert not any("github.com" in str(u) for u in urls)


def test_when_no_named_service_is_a_unit_the_system_log_is_read():
    s = Session(HOST, "All nightly exports on app-01 failed at 01:00 with the reports service unreachable.")
    s.run({"service_status": ("Unit reports.service could not be found.\n", 4, None)}, steps=5)
    assert any(a.get("source") == "/var/log/syslog" for _, a in s.asked)
