"""Host investigations, round 3: process titles as evidence, known failure classes with their cause sentence
(Kafka poll interval, JVM heap exhaustion), and failed systemd dependencies."""

from __future__ import annotations

from test_runbook_host_naming import host, ps
from test_runbook_strategy import Session, ok


def test_a_session_idle_in_transaction_since_another_day_is_the_cause_of_bloat():
    s = Session(
        host("db-core-02"),
        "Queries on db-core-02 get slower every day and the orders table keeps growing although autovacuum runs.",
    )
    rows = ps(
        "postgres    1180  0.0  1.2 8811200 198120 ?        Ss   Nov02  61:12 /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main",
        "postgres    7702  0.0  0.9 8830120 140110 ?        Ss   Nov28   0:02 postgres: 15/main: report_user sales 10.9.3.14(51234) idle in transaction",
        "postgres   23790  0.0  0.2 8812300 31200 ?        Ss   14:15   0:00 postgres: 15/main: app sales 10.0.2.7(41234) idle",
    )
    answer = s.run(
        {
            "process_list": ok(rows),
            "service_status": ok("● postgresql.service - PostgreSQL\n   Active: active (exited)"),
        }
    )
    assert "idle in transaction" in answer
    assert "7702" in answer and "report_user" in answer
    assert "vacuum" in answer.lower()


def test_a_session_idle_in_transaction_for_minutes_is_not_a_finding_on_its_own():
    from assistant.findings import analyze_text

    rows = ps(
        "postgres   23544  0.0  0.9 8830120 140110 ?        Ss   12:02   0:02 postgres: 15/main: analyst shop 10.0.5.20(40112) idle in transaction",
    )
    assert not [f for f in analyze_text("process_list", rows) if f.signature == "db-long-transaction"]


def test_kafka_consumer_kicked_out_for_exceeding_max_poll_interval_names_the_slow_batch():
    s = Session(
        host("stream-07"), "Consumer lag keeps growing on stream-07 for the invoice-enricher service."
    )
    journal = "\n".join(
        [
            "Dec 03 10:01:02 stream-07 invoice-enricher[2211]: INFO processed batch of 500 records in 312.4s",
            "Dec 03 10:01:02 stream-07 invoice-enricher[2211]: WARNING Heartbeat poll expired, leaving group",
            "Dec 03 10:01:03 stream-07 invoice-enricher[2211]: ERROR CommitFailedError: Commit cannot be completed "
            "since the group has already rebalanced and assigned the partitions to another member. This means "
            "that the time between subsequent calls to poll() was longer than the configured max.poll.interval.ms",
        ]
    )
    answer = s.run(
        {
            "service_status": ok(
                "● invoice-enricher.service\n   Active: active (running) since Mon 2026-11-30"
            ),
            "log_tail": ok(journal),
            "process_list": ok(ps()),
        }
    )
    assert "max.poll.interval.ms" in answer
    assert "312.4s" in answer and "too slow" in answer


def test_back_to_back_full_gcs_with_a_full_old_generation_are_heap_exhaustion_naming_the_cache():
    s = Session(
        host("pricing-01"),
        "The pricing-api service on pricing-01 is very slow and times out since the release.",
    )
    journal = "\n".join(
        [
            "Dec 03 09:00:01 pricing-01 java[900]: INFO PriceCache warmed: 950000 entries (maximumSize=1000000)",
            "Dec 03 09:10:01 pricing-01 java[900]: [Full GC (Ergonomics) [PSYoungGen: 1024K->1000K(2048K)] "
            "[ParOldGen: 4193000K->4192900K(4194304K)] 4194024K->4193900K(6291456K), 7.1 secs]",
            "Dec 03 09:10:09 pricing-01 java[900]: [Full GC (Ergonomics) [PSYoungGen: 1024K->1010K(2048K)] "
            "[ParOldGen: 4193100K->4193000K(4194304K)] 4194124K->4194010K(6291456K), 7.4 secs]",
        ]
    )
    answer = s.run(
        {
            "service_status": ok("● pricing-api.service\n   Active: active (running) since Mon 2026-11-30"),
            "log_tail": ok(journal),
            "process_list": ok(ps()),
            "host_resources": ok(""),
        }
    )
    assert "heap is exhausted" in answer
    assert "PriceCache" in answer


def test_a_single_full_gc_that_frees_memory_is_not_heap_exhaustion():
    from assistant.findings import analyze_text

    text = (
        "[Full GC (System.gc()) [PSYoungGen: 1024K->0K(2048K)] [ParOldGen: 3000000K->900000K(4194304K)] "
        "3001024K->900000K(6291456K), 1.1 secs]"
    )
    assert not [f for f in analyze_text("log_tail", text) if f.signature == "jvm-heap-exhausted"]


def test_a_certificate_not_yet_valid_points_at_the_clock_and_checks_time_sync():
    from assistant.findings import analyze_text

    text = "curl: (60) SSL certificate problem: certificate is not yet valid"
    found = [f for f in analyze_text("log_tail", text) if f.signature == "tls-verify-failed"]
    assert found and "clock" in found[0].title
    assert 'service_status(service="chrony")' in found[0].next_checks
    assert 'service_status(service="systemd-timesyncd")' in found[0].next_checks


def test_a_unit_that_failed_on_a_dependency_names_the_failed_mount_and_its_mount_point():
    s = Session(host("files-02"), "The nightly archive job on files-02 has not run for a week.")
    status = "\n".join(
        [
            "○ archive.service - Nightly archive",
            "     Loaded: loaded (/etc/systemd/system/archive.service; static)",
            "     Active: inactive (dead)",
            "Dec 03 02:00:00 files-02 systemd[1]: Dependency failed for Nightly archive.",
            "Dec 03 02:00:00 files-02 systemd[1]: archive.service: Job archive.service/start failed with result 'dependency'.",
        ]
    )
    mount = "\n".join(
        [
            "× srv-archive.mount - /srv/archive",
            "     Loaded: loaded (/etc/fstab; generated)",
            "     Active: failed (Result: exit-code) since Thu 2026-12-03 02:00:00 UTC",
            "Dec 03 02:00:00 files-02 mount[811]: mount.nfs: access denied by server while mounting nas-1:/exports/archive",
            "Dec 03 02:00:00 files-02 systemd[1]: srv-archive.mount: Mount process exited, code=exited, status=32/n/a",
            "Dec 03 02:00:00 files-02 systemd[1]: srv-archive.mount: Failed with result 'exit-code'.",
            "Dec 03 02:00:00 files-02 systemd[1]: Failed to mount /srv/archive.",
        ]
    )
    answer = s.run(
        {
            "service_status:archive": ok(status),
            "service_status:srv-archive.mount": ok(mount),
            "log_tail:unit:srv-archive.mount": ok(mount),
            "log_tail:/var/log/syslog": ok(mount),
            "log_tail": ok(status),
            "process_list": ok(ps()),
        }
    )
    assert "srv-archive.mount" in answer and "/srv/archive" in answer


def test_gc_overhead_limit_names_what_the_log_says_fills_the_heap_and_a_bare_oom_stays_one_finding():
    from assistant.findings import analyze_text

    oom = 'Dec 03 09:40:01 app-1 java[900]: Exception in thread "main" java.lang.OutOfMemoryError: GC overhead limit exceeded'
    text = "Dec 03 09:00:01 app-1 java[900]: INFO SessionCache loaded 800000 entries\n" + oom
    heap = [f for f in analyze_text("log_tail", text) if "heap" in f.signature]
    assert heap and all("SessionCache loaded 800000 entries" in f.title for f in heap)
    assert [f.signature for f in analyze_text("log_tail", oom) if "heap" in f.signature] == ["heap-exhausted"]


def test_g1_unified_logging_full_pauses_that_free_nothing_are_heap_exhaustion():
    from assistant.findings import analyze_text

    text = (
        "[2026-12-03T09:10:01.001+0000][info][gc] GC(812) Pause Full (G1 Compaction Pause) 4090M->4088M(4096M) 6101.2ms\n"
        "[2026-12-03T09:10:08.001+0000][info][gc] GC(813) Pause Full (G1 Compaction Pause) 4091M->4089M(4096M) 6301.9ms\n"
        "[2026-12-03T09:10:09.001+0000][info][gc] GC(814) Pause Young (Normal) 300M->120M(4096M) 12.0ms"
    )
    assert [f.signature for f in analyze_text("log_tail", text)].count("jvm-heap-exhausted") == 1


def test_an_out_of_memory_stack_names_the_application_frame_that_was_filling_the_heap():
    from assistant.findings import analyze_text

    text = (
        'Exception in thread "loader" java.lang.OutOfMemoryError: Java heap space\n'
        "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3512)\n"
        "\tat java.util.ArrayList.grow(ArrayList.java:237)\n"
        "\tat com.acme.pricing.QuoteIndex.rebuild(QuoteIndex.java:88)\n"
    )
    [h] = [f for f in analyze_text("log_tail", text) if "heap" in f.signature]
    assert "com.acme.pricing.QuoteIndex.rebuild" in h.title


def test_short_names_for_well_known_daemons_map_to_their_units_and_common_nouns_do_not_become_units():
    from assistant.runbook.entities import extract

    e = extract("rabbit on mq-01 blocks publishers and the zk ensemble lost quorum; es is red too")
    assert {"rabbitmq-server", "zookeeper", "elasticsearch"} <= set(e.services)
    e = extract("The orders table on db-main-02 keeps growing; autovacuum on db-main-02 never finishes.")
    assert "table" not in e.services and "autovacuum" not in e.services
    e = extract("Jobs on batch-03 fail since this morning.")
    assert "batch" not in e.services


def test_haproxy_health_checks_failing_with_a_status_name_the_check_path_in_either_log_wording():
    s = Session(host("lb-07"), "haproxy on lb-07 marks every shop backend DOWN since the release.")
    log = "\n".join(
        [
            "Dec 03 10:00:01 lb-07 haproxy[811]: [WARNING]  (811) : Health check for server shop_pool/shop1 failed, "
            'reason: Layer7 wrong status, code: 404, info: "Not Found", check duration: 2ms, status: 0/2 DOWN.',
            "Dec 03 10:00:02 lb-07 haproxy[811]: [WARNING]  (811) : Health check for server shop_pool/shop2 failed, "
            'reason: Layer7 wrong status, code: 404, info: "Not Found", check duration: 3ms, status: 0/2 DOWN.',
            "Dec 03 10:00:02 lb-07 haproxy[811]: [ALERT]    (811) : backend 'shop_pool' has no server available!",
        ]
    )
    answer = s.run(
        {
            "service_status": ok(
                "● haproxy.service - HAProxy Load Balancer\n   Active: active (running)\n" + log
            ),
            "log_tail": ok(log),
            "process_list": ok(ps()),
        }
    )
    assert "health check path" in answer and "404" in answer
