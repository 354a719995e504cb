"""Healthy systems' harmless details are never faults, and the same detail in a failing system still is.

Each test pairs a known-benign output (benign.py lines, benign_states.py objects) with its near twin that is
a real failure, written the way kubectl, CoreDNS, nginx, gunicorn and Alertmanager print them.
"""

from __future__ import annotations

from assistant.events import Finding
from assistant.findings import analyze_text
from assistant.findings.benign import benign
from assistant.findings.benign_states import STATES
from tools.base import ToolResult


def faults(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.severity != "info"]


# ------------------------------------------------------------------ access logs and last words


ACCESS_LOG = """\
203.0.113.77 - - [03/Dec/2026:09:41:02 +0000] "GET /wp-login.php HTTP/1.1" 404 153 "-" "Mozilla/5.0 (compatible; scanner)"
192.0.2.141 - - [03/Dec/2026:09:41:07 +0000] "GET /api/account HTTP/2.0" 401 61 "https://shop.example.com/account" "Mozilla/5.0"
198.51.100.9 - - [03/Dec/2026:09:41:14 +0000] "POST /api/payment-failed/retry HTTP/2.0" 200 402 "-" "Mozilla/5.0"
198.51.100.9 - - [03/Dec/2026:09:41:16 +0000] "GET /api/orders/88121 HTTP/2.0" 403 54 "-" "Mozilla/5.0"
"""


def test_access_log_requests_served_or_refused_to_the_client_are_not_failures():
    assert analyze_text("log_tail", ACCESS_LOG, args={"source": "/var/log/nginx/access.log"}) == []


def test_a_request_record_logged_at_error_level_is_not_waved_through():
    line = '2026-12-03T09:41:16Z ERROR handler crashed after "GET /api/orders HTTP/1.1" 200 sent: broken invariant'
    assert benign(line) is None


PREVIOUS_AFTER_REBOOT = """\
2026-11-27T03:10:58.310Z INFO  http GET /ready 200 1ms
2026-11-27T03:11:02.447Z INFO  http POST /v1/orders 201 41ms order=ORD-748812
2026-11-27T03:11:03.310Z INFO  http GET /ready 200 1ms
"""


def test_a_served_request_is_not_a_killed_containers_last_words():
    args = {"pod": "orders-api-7c9d8b6f4d-2xkqp", "namespace": "orders", "previous": True}
    assert analyze_text("pod_logs", PREVIOUS_AFTER_REBOOT, args=args) == []
    crashed = "2026-11-27T03:11:02.447Z INFO  http POST /v1/orders 201 41ms\nloading plugin ledger-v2\n"
    [last] = analyze_text("pod_logs", crashed, args=args)
    assert last.evidence[0].lines == ["loading plugin ledger-v2"]


def test_a_tool_that_did_not_run_has_no_last_words():
    """The loop analyses a failed call's error text; it is the tool's words, not the container's."""
    from datetime import UTC, datetime

    from assistant.findings import analyze

    result = ToolResult(
        tool="pod_logs",
        args={"pod": "web-1", "namespace": "shop", "previous": True},
        ok=False,
        status="no_data",
        error="no recorded output for pod_logs(namespace=shop, pod=web-1, previous=True, tail=100)",
        started_at=datetime.now(UTC),
    )
    assert analyze(result, "c1") == []


# ------------------------------------------------------------------ DNS query logs


COREDNS = """\
[INFO] 10.244.2.31:41822 - 51203 "AAAA IN api.partner.example.com.payments.svc.cluster.local. udp 83 false 1232" NXDOMAIN qr,aa,rd 176 0.000142s
[INFO] 10.244.2.31:41822 - 17744 "A IN api.partner.example.com.payments.svc.cluster.local. udp 83 false 1232" NXDOMAIN qr,aa,rd 176 0.000161s
[INFO] 10.244.2.31:58830 - 23990 "A IN api.partner.example.com.cluster.local. udp 70 false 1232" NXDOMAIN qr,aa,rd 163 0.000087s
[INFO] 10.244.2.31:50112 - 47013 "A IN api.partner.example.com. udp 56 false 1232" NOERROR qr,rd,ra 108 0.012233s
[INFO] 10.244.2.31:60331 - 2191 "AAAA IN ledger.internal.example.com. udp 56 false 1232" NXDOMAIN qr,rd,ra 131 0.004410s
[INFO] 10.244.2.31:60331 - 52902 "A IN ledger.internal.example.com. udp 56 false 1232" NOERROR qr,rd,ra 98 0.004012s
"""

COREDNS_MISSING_SERVICE = """\
[INFO] 10.244.2.31:41822 - 51203 "A IN redis.payments.svc.cluster.local. udp 50 false 512" NXDOMAIN qr,aa,rd 143 0.000128s
[INFO] 10.244.2.31:41822 - 51204 "A IN redis.svc.cluster.local. udp 41 false 512" NXDOMAIN qr,aa,rd 134 0.000098s
[INFO] 10.244.2.31:41822 - 51205 "A IN redis.cluster.local. udp 37 false 512" NXDOMAIN qr,aa,rd 130 0.000091s
"""


def test_search_path_expansions_and_aaaa_misses_answered_by_the_a_record_are_benign():
    args = {"pod": "coredns-5d78c9869d-7xq2m", "namespace": "kube-system"}
    assert faults(analyze_text("pod_logs", COREDNS, args=args)) == []


def test_a_name_that_never_resolves_under_any_suffix_is_still_nxdomain():
    args = {"pod": "coredns-5d78c9869d-7xq2m", "namespace": "kube-system"}
    found = analyze_text("pod_logs", COREDNS_MISSING_SERVICE, args=args)
    assert {f.signature for f in faults(found)} >= {"dns-nxdomain"}


# ------------------------------------------------------------------ deprecations and resolved alerts


def test_python_deprecation_warnings_are_benign_but_one_raised_as_an_error_is_not():
    warned = (
        "Dec 03 07:05:14 app-03 gunicorn[88131]: /opt/billing/venv/lib/python3.12/site-packages/sqlalchemy/orm/"
        "query.py:201: SADeprecationWarning: The Query.get() method is considered legacy\n"
        "Dec 03 07:05:14 app-03 gunicorn[88131]: /opt/billing/venv/lib/python3.12/site-packages/billing/money.py:14: "
        "DeprecationWarning: datetime.datetime.utcnow() is deprecated and scheduled for removal\n"
    )
    assert analyze_text("log_tail", warned, args={"source": "unit:billing-api"}) == []
    raised = (
        "Traceback (most recent call last):\n"
        '  File "/opt/app/main.py", line 3, in <module>\n'
        "DeprecationWarning: pkg_resources is deprecated as an API\n"
    )
    assert (
        benign("DeprecationWarning: pkg_resources is deprecated as an API") is not None
    )  # the words alone...
    assert faults(analyze_text("log_tail", raised, args={"source": "unit:app"}))  # ...raised, they stop it
    assert benign("ERROR option --foo is deprecated and has been removed") is None
    assert benign("2026-12-03T09:00:01Z FATAL config key 'pool' is deprecated; refusing to start") is None


def test_a_resolved_alert_is_benign_a_firing_one_is_not():
    assert benign("Dec  3 09:12:01 ops-01 alert-relay[912]: [RESOLVED] HighErrorRate api 5xx rate above 5%")
    assert (
        benign("Dec  3 09:12:01 ops-01 alert-relay[912]: [FIRING:1] HighErrorRate api 5xx rate above 5%")
        is None
    )


# ------------------------------------------------------------------ Warning events known to be harmless


def test_known_harmless_warning_events_are_info_findings_and_a_mixed_group_is_not():
    harmless = (
        "LAST SEEN   TYPE      REASON             OBJECT                       MESSAGE\n"
        "3m          Warning   DNSConfigForming   Pod/web-5d8f7c6b9d-abcde     Nameserver limits were exceeded, "
        "some nameservers have been omitted, the applied nameserver line is: 10.0.0.2 10.0.0.3 10.0.0.4\n"
        "12m         Warning   FailedMount        Pod/web-5d8f7c6b9d-abcde     MountVolume.SetUp failed for volume "
        '"kube-api-access-7q2lm" : object "web"/"kube-root-ca.crt" not registered\n'
    )
    found = analyze_text("k8s_events", harmless, args={"namespace": "web"})
    assert found and faults(found) == []
    assert {f.facts["benign"] for f in found} == {"dns-config-forming", "kube-root-ca-not-registered"}
    real = harmless + (
        "2m          Warning   FailedMount        Pod/web-5d8f7c6b9d-abcde     MountVolume.SetUp failed for volume "
        '"tls" : secret "web-tls" not found\n'
    )
    [mount] = [
        f for f in analyze_text("k8s_events", real, args={"namespace": "web"}) if "FailedMount" in f.title
    ]
    assert mount.severity == "high" and mount.facts.get("benign") is None


# ------------------------------------------------------------------ structural states (benign_states.py)


def _describe(state: str, restarts: int, last_reason: str, exit_code: int, *, ready: str = "True") -> str:
    return f"""\
Name:             orders-api-7c9d8b6f4d-2xkqp
Namespace:        orders
Status:           Running
Controlled By:  ReplicaSet/orders-api-7c9d8b6f4d
Containers:
  orders-api:
    Image:          registry.example.com/orders/orders-api:5.12.0
    State:          {state}
      Started:      Fri, 27 Nov 2026 03:14:52 +0000
    Last State:     Terminated
      Reason:       {last_reason}
      Exit Code:    {exit_code}
      Started:      Sat, 14 Nov 2026 10:02:19 +0000
      Finished:     Fri, 27 Nov 2026 03:11:07 +0000
    Ready:          {ready}
    Restart Count:  {restarts}
Conditions:
  Type              Status
  Ready             {ready}
Events:           <none>
"""


def test_a_restart_from_a_node_reboot_now_ready_is_info():
    args = {"pod": "orders-api-7c9d8b6f4d-2xkqp", "namespace": "orders"}
    found = analyze_text("pod_describe", _describe("Running", 1, "Unknown", 255), args=args)
    assert faults(found) == []
    [restart] = [f for f in found if f.signature == "container-restarted"]
    assert (
        restart.facts["benign"] == "runtime-restart" and "Reason:       Unknown" in restart.evidence[0].lines
    )


def test_restarts_that_are_crashes_or_many_or_not_ready_stay_faults():
    args = {"pod": "orders-api-7c9d8b6f4d-2xkqp", "namespace": "orders"}
    for text in (
        _describe("Running", 1, "Error", 1),  # the application exited 1
        _describe("Running", 9, "Unknown", 255),  # a node or runtime that keeps failing
        _describe("Running", 1, "Unknown", 255, ready="False"),  # not back to Ready
    ):
        assert {f.signature for f in faults(analyze_text("pod_describe", text, args=args))} & {"crash-loop"}


LISTING = """\
NAME                           READY   STATUS    RESTARTS   AGE
reports-api-5b7f9c8d6e-4hx2n   1/1     Running   0          12d
reports-api-5b7f9c8d6e-kk9pz   1/1     Running   0          26d
reports-api-5b7f9c8d6e-t7vbc   0/1     Evicted   0          26d
"""


def test_an_evicted_leftover_whose_siblings_have_been_ready_for_hours_is_info():
    [f] = analyze_text("list_pods", LISTING, args={"namespace": "reports"})
    assert f.severity == "info" and f.facts["benign"] == "evicted-and-replaced" and "12d" in f.title


def test_an_eviction_with_a_fresh_replacement_or_none_is_a_fault():
    fresh = LISTING.replace("12d", "38m")
    [f] = analyze_text("list_pods", fresh, args={"namespace": "reports"})
    assert f.severity == "high"
    alone = "NAME                READY   STATUS    RESTARTS   AGE\nbatch-runner-x7k2p  0/1     Evicted   0          3d\n"
    [f] = analyze_text("list_pods", alone, args={"namespace": "jobs"})
    assert f.severity == "high"


def _evicted(events: str, controlled_by: str = "ReplicaSet/reports-api-5b7f9c8d6e") -> str:
    return f"""\
Name:             reports-api-5b7f9c8d6e-t7vbc
Namespace:        reports
Status:           Failed
Reason:           Evicted
Message:          The node was low on resource: memory. Threshold quantity: 100Mi, available: 92104Ki. Container reports-api was using 618204Ki, request is 512Mi, has larger consumption of memory.
Controlled By:  {controlled_by}
Containers:
  reports-api:
    State:          Terminated
      Reason:       ContainerStatusUnknown
      Message:      The container could not be located when the pod was terminated
      Exit Code:    137
    Ready:          False
    Restart Count:  0
{events}"""


def test_an_old_eviction_of_a_controlled_pod_is_info_and_its_container_state_is_not_a_second_fault():
    found = analyze_text(
        "pod_describe", _evicted("Events:                       <none>\n"), args={"namespace": "reports"}
    )
    assert faults(found) == []
    [f] = found
    assert f.signature == "pod-evicted" and f.facts["benign"] == "eviction-aged-out"


def test_a_recent_eviction_or_a_bare_pod_eviction_is_a_fault():
    recent = (
        "Events:\n  Type     Reason   Age   From     Message\n  ----     ------   ----  ----     -------\n"
        "  Warning  Evicted  39m   kubelet  The node was low on resource: memory.\n"
    )
    assert faults(analyze_text("pod_describe", _evicted(recent), args={"namespace": "reports"}))
    bare = _evicted("Events:                       <none>\n", controlled_by="<none>")
    assert faults(analyze_text("pod_describe", bare, args={"namespace": "reports"}))


def test_every_benign_state_says_why():
    assert len({s.name for s in STATES}) == len(STATES)
    assert all(len(s.why) > 40 and callable(s.holds) for s in STATES)


def _fstrim(triggered_by: str) -> str:
    return f"""\
○ fstrim.service - Discard unused blocks on filesystems from /etc/fstab
     Loaded: loaded (/lib/systemd/system/fstrim.service; static)
     Active: inactive (dead)
{triggered_by}  Condition: start condition failed at Mon 2026-11-30 00:00:01 UTC; 3 days ago
             └─ ConditionVirtualization=!container was not met
       Docs: man:fstrim(8)
"""


def test_a_timer_job_skipped_by_its_own_condition_is_benign_a_service_nobody_triggers_is_not():
    assert (
        analyze_text("service_status", _fstrim("TriggeredBy: ● fstrim.timer\n"), args={"service": "fstrim"})
        == []
    )
    [f] = faults(analyze_text("service_status", _fstrim(""), args={"service": "fstrim"}))
    assert f.signature == "unit-failed" and any("was not met" in ln for ln in f.evidence[0].lines)


STOPPING_EVENTS = """\
LAST SEEN   TYPE      REASON      OBJECT                         MESSAGE
4s          Normal    Killing     Pod/catalog-7d5c4b9a8f-hh7nq   Stopping container catalog
2s          Warning   Unhealthy   Pod/catalog-7d5c4b9a8f-hh7nq   Readiness probe failed: Get "http://10.244.3.52:8080/ready": dial tcp 10.244.3.52:8080: connect: connection refused
"""


def test_probe_failures_of_a_pod_being_stopped_are_benign_a_liveness_kill_is_not():
    found = analyze_text("k8s_events", STOPPING_EVENTS, args={"namespace": "catalog"})
    [probe] = [f for f in found if f.signature == "probe-failing"]
    assert probe.severity == "info" and probe.facts["benign"] == "probe-while-stopping"
    killed_by_probe = STOPPING_EVENTS.replace(
        "Stopping container catalog", "Container catalog failed liveness probe, will be restarted"
    ).replace("Readiness", "Liveness")
    [probe] = [
        f
        for f in analyze_text("k8s_events", killed_by_probe, args={"namespace": "catalog"})
        if f.signature == "probe-failing"
    ]
    assert probe.severity == "high"


def test_nslookup_no_answer_for_one_type_is_benign_nxdomain_is_not():
    out = (
        "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tapi.example.com\nAddress: 93.184.216.34\n\n"
    )
    assert analyze_text("log_tail", out + "*** Can't find api.example.com: No answer\n") == []
    assert faults(analyze_text("log_tail", out + "** server can't find api.example.com: NXDOMAIN\n"))


SANDBOX_THEN_STARTED = """\
LAST SEEN   TYPE      REASON                   OBJECT                      MESSAGE
6m          Warning   FailedCreatePodSandBox   Pod/web-5d8f7c6b9d-abcde    Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "4f1e": plugin type="aws-cni" name="aws-cni" failed (add): add cmd: failed to assign an IP address to container
5m          Normal    Pulled                   Pod/web-5d8f7c6b9d-abcde    Container image "registry.example.com/web:1.4.2" already present on machine
5m          Normal    Started                  Pod/web-5d8f7c6b9d-abcde    Started container web
"""

UNSCHEDULABLE_THEN_SCHEDULED = """\
LAST SEEN   TYPE      REASON             OBJECT                      MESSAGE
5m          Warning   FailedScheduling   Pod/web-5d8f7c6b9d-abcde    0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.
4m          Normal    Scheduled          Pod/web-5d8f7c6b9d-abcde    Successfully assigned web/web-5d8f7c6b9d-abcde to ip-10-0-13-140.eu-west-1.compute.internal
4m          Normal    Started            Pod/web-5d8f7c6b9d-abcde    Started container web
"""


def test_pre_start_warnings_followed_by_the_pod_starting_are_info():
    for text in (SANDBOX_THEN_STARTED, UNSCHEDULABLE_THEN_SCHEDULED):
        found = analyze_text("k8s_events", text, args={"namespace": "web"})
        assert found and faults(found) == []
        assert {f.facts.get("benign") for f in found} == {"prestart-recovered"}


def test_pre_start_warnings_still_repeating_or_never_followed_by_a_start_are_faults():
    still = SANDBOX_THEN_STARTED.replace("6m          Warning", "30s         Warning")  # after the last start
    assert faults(analyze_text("k8s_events", still, args={"namespace": "web"}))
    never = "\n".join(UNSCHEDULABLE_THEN_SCHEDULED.splitlines()[:2]) + "\n"
    [f] = faults(analyze_text("k8s_events", never, args={"namespace": "web"}))
    assert f.signature == "pod-unschedulable"


def _ready_pod_with(event: str) -> str:
    return f"""\
Name:             web-5d8f7c6b9d-abcde
Namespace:        web
Status:           Running
Controlled By:  ReplicaSet/web-5d8f7c6b9d
Containers:
  web:
    State:          Running
      Started:      Thu, 03 Dec 2026 09:01:12 +0000
    Ready:          True
    Restart Count:  0
Conditions:
  Type              Status
  Ready             True
Events:
  Type     Reason       Age                From     Message
  ----     ------       ----               ----     -------
{event}
"""


def test_a_described_ready_pod_s_old_mount_warning_is_info_a_repeating_one_is_not():
    over = '  Warning  FailedMount  9m                 kubelet  MountVolume.SetUp failed for volume "config" : configmap "web" not found'
    found = analyze_text("pod_describe", _ready_pod_with(over), args={"namespace": "web"})
    assert found and faults(found) == []
    repeating = over.replace("9m                ", "40s (x31 over 1h)")
    assert faults(analyze_text("pod_describe", _ready_pod_with(repeating), args={"namespace": "web"}))
