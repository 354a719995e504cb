"""Real output varies: the same failure printed by another kubectl version, other flags, a wrapped row, a
framed or cut output. Each test is one such variation written the way the real command prints it, and
asserts the finding with its exact lines, or, for an output that cannot be read, a gap, never "nothing".
"""

from __future__ import annotations

from assistant.events import Finding
from assistant.findings import analyze_text
from assistant.findings.host_text import parse_df, parse_free
from assistant.findings.k8s_text import parse_describe, parse_events
from assistant.findings.readable import cut_off, unreadable


def by_sig(found: list[Finding], signature: str) -> list[Finding]:
    return [f for f in found if f.signature == signature]


def lines_of(f: Finding) -> list[str]:
    return [ln for ev in f.evidence for ln in ev.lines]


# ------------------------------------------------------------------ kubectl get pods: every failed STATUS


PODS = """\
NAME                        READY   STATUS                  RESTARTS        AGE
api-6d4cf56db6-2xk9q        0/1     Error                   4 (52s ago)     3m
api-6d4cf56db6-8bzt7        0/1     RunContainerError       2 (10s ago)     3m
worker-5b7c9d8f6-x2k4p      0/1     Init:CrashLoopBackOff   6 (2m ago)      9m
db-0                        0/1     Pending                 0               12m
web-7d9f8c6b5-x2k4p         0/1     ContainerCreating       0               4s
old-7d9f8c6b5-q8w2e         1/1     Terminating             0               2d
"""


def test_every_failed_pod_status_is_a_finding_with_its_row():
    found = by_sig(analyze_text("list_pods", PODS, args={"namespace": "shop"}), "pod-not-running")
    rows = {f.facts["pod"]: f for f in found}
    assert set(rows) == {"api-6d4cf56db6-2xk9q", "api-6d4cf56db6-8bzt7", "worker-5b7c9d8f6-x2k4p"}
    assert lines_of(rows["api-6d4cf56db6-8bzt7"]) == [
        "api-6d4cf56db6-8bzt7        0/1     RunContainerError       2 (10s ago)     3m"
    ]
    assert "an init container failed" in rows["worker-5b7c9d8f6-x2k4p"].title
    assert all(f.severity == "medium" for f in found)
    assert [(c.tool, c.args) for c in rows["api-6d4cf56db6-2xk9q"].checks] == [
        ("pod_describe", {"pod": "api-6d4cf56db6-2xk9q", "namespace": "shop"})
    ]


def test_failed_job_attempt_followed_by_a_completed_one_is_benign():
    text = """\
NAMESPACE   NAME                        READY   STATUS      RESTARTS   AGE
batch       report-28391640-7xk2p       0/1     Error       0          2h
batch       report-28391640-q9w4z       0/1     Completed   0          2h
"""
    [f] = analyze_text("list_pods", text, args={"namespace": "batch"})
    assert f.signature == "pod-not-running" and f.severity == "info"
    assert lines_of(f) == [text.splitlines()[1], text.splitlines()[2]]


# ------------------------------------------------------------------ kubectl describe pod


CRASHED = """\
Name:             api-6d4cf56db6-2xk9q
Namespace:        shop
Status:           Running
Controlled By:    ReplicaSet/api-6d4cf56db6
Containers:
  api:
    Image:          registry.example.com/api:1.4.2
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Message:      panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x5c1d2a]

goroutine 1 [running]:
main.main()
\t/app/main.go:12 +0x1d
      Exit Code:    2
      Started:      Mon, 02 Mar 2026 10:00:10 +0000
      Finished:     Mon, 02 Mar 2026 10:00:11 +0000
    Ready:          False
    Restart Count:  5
    Limits:
      memory:  256Mi
Conditions:
  Type              Status
  Ready             False
Events:
  Type     Reason   Age                From     Message
  ----     ------   ----               ----     -------
  Warning  BackOff  12s (x25 over 5m)  kubelet  Back-off restarting failed container api in pod api_shop(1)
"""


def test_termination_message_over_several_lines_does_not_end_the_container():
    pod = parse_describe(CRASHED)
    assert pod is not None
    [c] = pod.containers
    assert c.get("Last State.Exit Code") == "2" and c.get("Restart Count") == "5"
    assert c.get("Limits.memory") == "256Mi" and len(pod.events) == 1
    [crash] = by_sig(analyze_text("pod_describe", CRASHED), "crash-loop")
    assert crash.facts["exit_code"] == 2 and crash.facts["restarts"] == 5
    assert (
        "Message:      panic: runtime error: invalid memory address or nil pointer dereference"
        in lines_of(crash)
    )
    assert "panic: runtime error" in crash.title


def test_start_error_quotes_the_runtime_message():
    text = """\
Name:         web-5f7d9c8b5-qq2xw
Namespace:    prod
Status:       Running
Containers:
  web:
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       StartError
      Message:      failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "gunicron": executable file not found in $PATH: unknown
      Exit Code:    128
    Ready:          False
    Restart Count:  3
"""
    [crash] = by_sig(analyze_text("pod_describe", text), "crash-loop")
    assert "StartError" in crash.title and crash.facts["exit_code"] == 128
    assert any('exec: "gunicron": executable file not found in $PATH' in ln for ln in lines_of(crash))
    assert "Reason:       StartError" in lines_of(crash)


# ------------------------------------------------------------------ events, any kubectl version


def test_events_of_old_kubectl_with_kind_and_event_name_columns():
    text = (
        "LAST SEEN   FIRST SEEN   COUNT   NAME                           KIND                    SUBOBJECT   "
        "TYPE      REASON               SOURCE                        MESSAGE\n"
        "2m          2m           1       data-pg-0.17a8b9c0d1e2f3a5     PersistentVolumeClaim               "
        'Warning   ProvisioningFailed   persistentvolume-controller   storageclass.storage.k8s.io "fast" not found\n'
    )
    [e] = parse_events(text)
    assert (e.type, e.reason, e.object) == (
        "Warning",
        "ProvisioningFailed",
        "persistentvolumeclaim/data-pg-0",
    )
    assert e.message == 'storageclass.storage.k8s.io "fast" not found'
    [f] = by_sig(analyze_text("k8s_events", text, args={"namespace": "db"}), "k8s-warning")
    assert lines_of(f) == [text.splitlines()[1]] and "ProvisioningFailed" in f.title


def test_events_wide_keep_the_message_apart_from_source_and_count():
    text = (
        "LAST SEEN   TYPE      REASON   OBJECT      SUBOBJECT              SOURCE           MESSAGE"
        "                            FIRST SEEN   COUNT   NAME\n"
        "3m          Warning   Failed   pod/api-1   spec.containers{api}   kubelet, node-2  "
        ' Error: secret "api-db" not found   5m           12      api-1.17a8b9c0d1e2f3a4\n'
    )
    [e] = parse_events(text)
    assert e.message == 'Error: secret "api-db" not found' and e.age == "3m (x12 over 5m)"
    [f] = by_sig(analyze_text("k8s_events", text, args={"namespace": "x"}), "k8s-warning")
    assert f.facts["object"] == "pod/api-1" and lines_of(f) == [text.splitlines()[1]]


def test_kubectl_events_command_and_a_grepped_listing_without_header():
    new = """\
LAST SEEN   TYPE      REASON               OBJECT     MESSAGE
2m          Warning   FailedAttachVolume   Pod/pg-0   Multi-Attach error for volume "pvc-1b2c" Volume is already used by pod(s) pg-0-old
"""
    grepped = new.splitlines()[1]
    for text in (new, grepped, "stdout: " + grepped):
        [f] = by_sig(analyze_text("k8s_events", text, args={"namespace": "db"}), "k8s-warning")
        assert f.facts["reason"] == "FailedAttachVolume" and lines_of(f) == [grepped]


# ------------------------------------------------------------------ df and free as they really print


def test_df_with_type_column_framing_wrapped_device_and_capacity():
    variants = {
        "Filesystem     Type  Size  Used Avail Use% Mounted on\n/dev/nvme0n1p1 ext4   20G   19G  112M 100% /\n": [
            "/dev/nvme0n1p1 ext4   20G   19G  112M 100% /"
        ],
        "stdout: Filesystem      Size  Used Avail Use% Mounted on\nstdout: /dev/sda1        20G   20G     0 100% /\n": [
            "/dev/sda1        20G   20G     0 100% /"
        ],
        "Filesystem           1K-blocks      Used Available Use% Mounted on\n/dev/mapper/vg-root\n"
        "                      20511312  19450000         0 100% /\n": [
            "/dev/mapper/vg-root",
            "20511312  19450000         0 100% /",
        ],
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 1000 990 10 99% /mnt/My Data\n": [
            "/dev/sdb1 1000 990 10 99% /mnt/My Data"
        ],
    }
    for text, evidence in variants.items():
        [f] = by_sig(analyze_text("disk_usage", text), "disk-full")
        assert lines_of(f) == evidence, text
    [row] = parse_df(
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 1000 990 10 99% /mnt/My Data"
    )
    assert row.mount == "/mnt/My Data" and row.percent == 99


def test_df_inodes_and_dash_for_filesystems_without_inode_table():
    text = "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/sdc1 0 0 0 - /data\n/dev/sda2 655360 655360 0 100% /var\n"
    [f] = analyze_text("disk_usage", text)
    assert f.facts["kind"] == "inodes" and f.facts["mount"] == "/var"
    assert [r.percent for r in parse_df(text)] == [None, 100]


def test_free_human_units_and_old_procps_without_available():
    human = """\
               total        used        free      shared  buff/cache   available
Mem:           7.6Gi       7.3Gi       102Mi       1.0Mi       215Mi       180Mi
Swap:          2.0Gi       2.0Gi          0B
"""
    [f] = analyze_text("host_resources", human)
    assert f.signature == "memory-exhausted" and "180Mi of 7.6Gi" in f.title
    assert lines_of(f) == ["Mem:           7.6Gi       7.3Gi       102Mi       1.0Mi       215Mi       180Mi"]
    old = """\
             total       used       free     shared    buffers     cached
Mem:          3951       3890         61          0          2         15
-/+ buffers/cache:       3873         78
Swap:         2047       2047          0
"""
    [f] = analyze_text("host_resources", old)
    assert lines_of(f) == [
        "Mem:          3951       3890         61          0          2         15",
        "-/+ buffers/cache:       3873         78",
    ]
    healthy = old.replace("3873         78", "988        2963")
    assert analyze_text("host_resources", healthy) == []
    mem = parse_free(human.replace("180Mi", "3.1Gi"))
    assert mem is not None and 0.4 < mem.ratio < 0.41


# ------------------------------------------------------------------ unreadable and cut outputs are gaps


def test_outputs_that_cannot_be_read_are_gaps_never_nothing():
    assert unreadable("list_pods", "error: You must be logged in to the server (Unauthorized)")
    assert unreadable(
        "k8s_events", 'Error from server (Forbidden): events is forbidden: User "dev" cannot list'
    )
    assert unreadable("pod_describe", "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout")
    assert unreadable("disk_usage", "du: cannot read directory '/var/lib/docker': Permission denied")
    assert unreadable("host_resources", "bash: free: command not found")
    for tool, text in (
        ("list_pods", "No resources found in shop namespace."),
        ("k8s_events", "No events found in shop namespace."),
        ("k8s_events", "stdout:\n"),
        ("pod_describe", CRASHED),
        ("disk_usage", "Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 20G 5G 15G 25% /\n"),
        ("host_resources", " 10:00:00 up 3 days,  load average: 0.10, 0.20, 0.30\n"),
        ("log_tail", "anything at all"),
    ):
        assert not unreadable(tool, text), (tool, text)


def test_a_listing_cut_in_the_middle_of_a_row_is_a_gap():
    cut = PODS + "payments-7c9d8e6f5-k2j4h    0/1     CrashLoo"
    assert cut_off("list_pods", cut) and not cut_off("list_pods", PODS)
    assert not cut_off("list_pods", PODS + "Warning: kubectl is out of date")
    df = "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda1        20G   5G   15G  25% /\n/dev/sdb1  "
    assert cut_off("disk_usage", df + "       200G  190G")
    assert cut_off("log_tail", '{"level":"error","msg":"conn')


# ------------------------------------------------------------------ error-level lines in every shape


def _errors(tool: str, text: str, **args) -> list[Finding]:
    return by_sig(analyze_text(tool, text, args=args or {"source": "/var/log/app.log"}), "error-lines")


def test_level_words_of_apache_modules_mongodb_and_klog():
    apache = (
        "[Wed Aug 05 11:14:44.902113 2026] [proxy:error] [pid 601] (111)Connection refused: AH00957: backend"
    )
    [f] = _errors(
        "log_tail", apache.replace("(111)Connection refused", "(70007)The timeout specified has expired")
    )
    assert f.facts["level"] == "error" and f.facts["first"] == "Wed Aug 05 11:14:44.902113 2026"
    warn = "[Wed Aug 05 11:14:45.1 2026] [php:warn] [pid 602] PHP Warning:  Failed to open stream: timed out"
    assert _errors("log_tail", warn)[0].severity == "info"  # a warning: reported, never the cause
    mongo = '{"t":{"$date":"2026-03-03T10:00:01.000+00:00"},"s":"E","c":"STORAGE","msg":"WiredTiger error"}'
    assert _errors("log_tail", mongo)[0].facts["level"] == "error"
    assert _errors("log_tail", mongo.replace('"s":"E"', '"s":"I"').replace("error", "opened")) == []
    klog = "\n".join(
        f"E0303 10:0{i}:05.123456       1 reflector.go:138] Failed to watch *v1.Pod: Unauthorized"
        for i in range(3)
    )
    [k] = _errors("pod_logs", klog, pod="ctrl-1")
    assert k.facts["count"] == 3 and k.facts["program"] == "reflector.go:138"
    assert k.facts["message"] == "Failed to watch *v1.Pod: Unauthorized"


def test_errno_names_and_failure_words_without_a_level():
    for line in (
        "Error: EBUSY: resource busy or locked, rmdir '/data/tmp'",
        "write /var/lib/app/db: EIO",
        "open /etc/app/config.yaml: Errno::ENOENT",
        "thread 'main' panicked: Permission denied (os error 13)",
        "worker 3 exited with code 137",
        "Main process exited, code=exited, status=203/EXEC",
        "deadlock detected while updating orders",
        "client certificate has expired",
        "upstream connection reset by peer while reading response header",
        "too many connections for role app",
        "request rate over limit for tenant 42",
    ):
        found = analyze_text("log_tail", line, args={"source": "/var/log/app.log"})
        assert [line] in [lines_of(f) for f in found], line  # a specific signature or the generic one


def test_healthy_lines_with_no_failure_stay_quiet():
    for line in (
        "2026-03-03 10:00:01 INFO connection pool started (max 20)",
        "LOG:  could not receive data from client: Connection reset by peer",
        "2026-03-03T10:00:01Z [Note] [MY-010051] Event Scheduler: scheduler thread started",
        "starting worker 3 with time limit 30s",
    ):
        assert _errors("log_tail", line) == [], line


def test_java_caused_by_is_its_own_error_and_the_unit_header_is_not_a_log_line():
    text = """\
2026-03-03 10:00:00.123 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed
java.lang.IllegalStateException: Failed to load ApplicationContext
\tat org.springframework.Default.loadContext(Default.java:132)
Caused by: com.acme.ledger.LedgerUnavailableException: ledger rejected batch 42
\tat java.base/java.net.InetAddress.getAllByName0(InetAddress.java:1301)
"""
    found = _errors("pod_logs", text, pod="orders-1")
    assert "Caused by: com.acme.ledger.LedgerUnavailableException: ledger rejected batch 42" in [
        ln for f in found for ln in lines_of(f)
    ]
    status = """\
× api.service - API
     Loaded: loaded (/etc/systemd/system/api.service; enabled; preset: enabled)
     Active: failed (Result: exit-code) since Tue 2026-03-03 10:00:09 UTC; 3s ago
    Process: 4411 ExecStart=/usr/bin/api (code=exited, status=1/FAILURE)
   Main PID: 4411 (code=exited, status=1/FAILURE)
Mar 03 10:00:09 app-01 api[4411]: FATAL could not open /etc/api/api.toml: no such file or directory
"""
    found = analyze_text("service_status", status, args={"service": "api"})
    quoted = [ln for f in found for ln in lines_of(f)]
    assert status.splitlines()[-1] in quoted
    assert not [ln for f in by_sig(found, "error-lines") for ln in lines_of(f) if "Process:" in ln]
    assert by_sig(found, "unit-failed")


# ------------------------------------------------------------------ nodes, units and other objects' conditions


def test_node_named_by_its_event_object_and_normal_transitions_without_recovery():
    text = """\
LAST SEEN   TYPE      REASON                      OBJECT                            MESSAGE
40m         Warning   EvictionThresholdMet        Node/ip-10-1-33-12.ec2.internal   Attempting to reclaim memory
38m         Normal    NodeHasInsufficientMemory   Node/ip-10-1-33-12.ec2.internal   Node ip-10-1-33-12.ec2.internal status is now: NodeHasInsufficientMemory
"""
    [f] = analyze_text("k8s_events", text)
    assert f.signature == "node-condition" and f.facts["node"] == "ip-10-1-33-12.ec2.internal"
    assert f.facts["conditions"] == ["EvictionThresholdMet", "NodeHasInsufficientMemory"]
    recovered = (
        text.splitlines()[0]
        + "\n"
        + text.splitlines()[2]
        + "\n30m         Normal    NodeHasSufficientMemory     Node/ip-10-1-33-12.ec2.internal   "
        "Node ip-10-1-33-12.ec2.internal status is now: NodeHasSufficientMemory\n"
    )
    assert by_sig(analyze_text("k8s_events", recovered), "node-condition") == []
    framed = "stdout: NAME     STATUS     ROLES    AGE   VERSION\nstdout: node-2   NotReady   <none>   9d    v1.29.3\n"
    [n] = analyze_text("log_tail", framed)
    assert n.facts["node"] == "node-2" and lines_of(n) == ["node-2   NotReady   <none>   9d    v1.29.3"]


def test_unit_at_its_memory_limit_is_a_threshold_finding():
    status = """\
● worker.service - Celery worker
     Loaded: loaded (/etc/systemd/system/worker.service; enabled; preset: enabled)
     Active: active (running) since Tue 2026-03-03 09:00:00 UTC; 1h ago
   Main PID: 811 (celery)
      Tasks: 9 (limit: 4915)
     Memory: 1.9G (max: 2.0G available: 48.3M peak: 2.0G)
"""
    [f] = analyze_text("service_status", status, args={"service": "worker"})
    assert f.signature == "memory-limit-near" and f.facts["limit"] == "2.0G"
    assert f.severity == "info"  # page cache counts: at the limit is normal until the complaint is about it
    assert lines_of(f) == ["Memory: 1.9G (max: 2.0G available: 48.3M peak: 2.0G)"]
    roomy = status.replace("1.9G (max: 2.0G available: 48.3M", "412.0M (max: 2.0G available: 1.6G")
    assert analyze_text("service_status", roomy, args={"service": "worker"}) == []


DEPLOYMENT = """\
Name:                   api
Namespace:              shop
Replicas:               3 desired | 1 updated | 3 total | 2 available | 1 unavailable
StrategyType:           RollingUpdate
Pod Template:
  Labels:  app=api
  Containers:
   api:
    Image:        registry.example.com/api:1.5.0
Conditions:
  Type           Status  Reason
  ----           ------  ------
  Available      True    MinimumReplicasAvailable
  Progressing    False   ProgressDeadlineExceeded
OldReplicaSets:  api-6d4cf56db6 (2/2 replicas created)
NewReplicaSet:   api-7c8d9e6f5b (1/1 replicas created)
Events:          <none>
"""


def test_conditions_of_other_objects_in_their_failed_polarity():
    [f] = analyze_text("pod_describe", DEPLOYMENT)
    assert f.signature == "condition-false" and f.facts["reasons"] == ["ProgressDeadlineExceeded"]
    assert lines_of(f) == ["Progressing    False   ProgressDeadlineExceeded"]
    healthy = DEPLOYMENT.replace("False   ProgressDeadlineExceeded", "True    NewReplicaSetAvailable")
    assert analyze_text("pod_describe", healthy) == []
    job = """\
Name:             nightly-report
Namespace:        batch
Conditions:
  Type                    Status  Reason                Message
  ----                    ------  ------                -------
  FailureTarget           True    BackoffLimitExceeded  Job has reached the specified backoff limit
  Failed                  True    BackoffLimitExceeded  Job has reached the specified backoff limit
"""
    [j] = analyze_text("pod_describe", job)
    assert j.facts["conditions"] == ["FailureTarget", "Failed"] and "BackoffLimitExceeded" in j.title
    done = job.replace(
        "FailureTarget           True    BackoffLimitExceeded  Job has reached the specified backoff limit\n",
        "",
    )
    done = done.replace(
        "Failed                  True    BackoffLimitExceeded", "Complete                True    "
    )
    assert analyze_text("pod_describe", done) == []


# ------------------------------------------------------------------ HTTP checks: the body's own error, curl's error


def test_an_error_response_quotes_its_body_and_routine_4xx_are_not_faults():
    es = """\
HTTP/1.1 429 Too Many Requests
content-type: application/json; charset=UTF-8

{"error":{"root_cause":[{"type":"cluster_block_exception","reason":"index [logs] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}]},"status":429}
time_total=0.012s
"""
    [f] = by_sig(
        analyze_text("http_check", es, args={"url": "http://es-1:9200/logs/_doc"}), "http-error-status"
    )
    assert f.facts["status"] == 429 and lines_of(f) == ["HTTP/1.1 429 Too Many Requests", es.splitlines()[3]]
    bad_gateway = "HTTP/1.1 502 Bad Gateway\nServer: nginx/1.24.0\n\n<html><head><title>502 Bad Gateway</title></head></html>\n"
    [g] = analyze_text("http_check", bad_gateway, args={"url": "http://shop/"})
    assert lines_of(g) == [
        "HTTP/1.1 502 Bad Gateway",
        "<html><head><title>502 Bad Gateway</title></head></html>",
        "Server: nginx/1.24.0",
    ]
    for routine in (
        'HTTP/1.1 401 Unauthorized\nWWW-Authenticate: Basic realm="admin"\n\n{"error":"unauthorized"}\n',
        'HTTP/1.1 404 Not Found\n\n{"error":"not found"}\n',
        "HTTP/1.1 301 Moved Permanently\nLocation: https://shop/\n\n",
    ):
        assert analyze_text("http_check", routine, args={"url": "http://shop/"}) == []


def test_curls_own_error_is_a_failed_check():
    text = "curl: (52) Empty reply from server\ntime_total=0.002s\n"
    [f] = analyze_text("http_check", text, args={"url": "http://api:8080/health"})
    assert f.signature == "http-check-failed" and lines_of(f) == ["curl: (52) Empty reply from server"]


# ------------------------------------------------------------------ log line prefixes, reader notes, other listings


def test_dmesg_seconds_and_kubectl_logs_prefix_are_read_as_timestamps_and_sources():
    from assistant.findings.logtext import read_line

    line = read_line("[  812.123456] Out of memory: Killed process 4411 (java)")
    assert line.timestamp == "812.123456" and line.message.startswith("Out of memory")
    line = read_line("[pod/api-1/api] 2026-03-03T10:00:01.123456789Z ERROR ledger unavailable")
    assert line.timestamp == "2026-03-03T10:00:01.123456789Z" and line.message == "ERROR ledger unavailable"
    text = "\n".join(
        f"[pod/api-{i}/api] 2026-03-03T10:00:0{i}.1Z ERROR ledger rejected batch {i}: quota exceeded"
        for i in range(1, 4)
    )
    [f] = _errors("pod_logs", text, pod="api")
    assert f.facts["count"] == 3 and f.facts["first"] == "2026-03-03T10:00:01.1Z"


def test_a_reader_that_only_talks_about_its_own_input_is_a_gap():
    for tool, text in (
        (
            "pod_logs",
            'Error from server (BadRequest): previous terminated container "api" in pod "api-1" not found',
        ),
        ("service_status", "Unit email-sender.service could not be found."),
        ("log_tail", "tail: cannot open '/var/log/app/app.log' for reading: No such file or directory"),
    ):
        assert analyze_text(tool, text, args={"pod": "api-1", "previous": True}) == []
        assert unreadable(tool, text), text
    assert not unreadable("log_tail", "tail: cannot open '/var/log/a.log'\nMar 03 10:00:00 h app[1]: started")


def test_a_deployment_listing_is_not_read_as_pods():
    from assistant.findings.k8s_text import parse_pod_list

    assert (
        parse_pod_list(
            "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\napi    1/3     3            1           10m\n"
        )
        == []
    )


# ------------------------------------------------------------------ a container's last words in its description


RUN_ERROR = """\
Name:         web-5f7d9c8b5-qq2xw
Namespace:    prod
Status:       Running
Containers:
  web:
    State:          Waiting
      Reason:       RunContainerError
    Last State:     Terminated
      Reason:       StartError
      Message:      failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "gunicron": executable file not found in $PATH: unknown
      Exit Code:    128
    Ready:          False
    Restart Count:  3
"""


def test_a_waiting_container_says_why_its_last_attempt_ended():
    found = analyze_text("pod_describe", RUN_ERROR)
    [state] = by_sig(found, "container-not-running")
    assert state.title.startswith(
        "container web in web-5f7d9c8b5-qq2xw waits in RunContainerError (last attempt StartError"
    )
    assert (
        'exec: "gunicron": executable file not found in $PATH: unknown)' in state.title
    )  # the cause is the tail
    assert "Reason:       StartError" in lines_of(state)
    [said] = by_sig(found, "error-lines")  # the termination message, read as the pod's own words
    assert said.facts["source"] == "web-5f7d9c8b5-qq2xw" and said.facts["container"] == "web"
    assert lines_of(said) == [RUN_ERROR.splitlines()[9].strip()]


def test_a_completed_containers_message_is_not_an_error():
    done = RUN_ERROR.replace("Reason:       StartError", "Reason:       Completed").replace(
        "Exit Code:    128", "Exit Code:    0"
    )
    assert by_sig(analyze_text("pod_describe", done), "error-lines") == []


def test_gist_keeps_the_end_of_a_wrapped_error_and_the_head_of_anything_else():
    from assistant.findings.logtext import gist

    wrapped = "failed to create task: " * 10 + 'exec: "x": executable file not found in $PATH'
    assert gist(wrapped, 80).endswith('exec: "x": executable file not found in $PATH')
    assert gist("panic: " + "a" * 300, 50).startswith("panic: aaa") and gist("short") == "short"


# ------------------------------------------------------------------ a pod printed as an object (-o yaml / -o json)


POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: api-6d4cf56db6-2xk9q
  namespace: shop
  ownerReferences:
  - apiVersion: apps/v1
    controller: true
    kind: ReplicaSet
    name: api-6d4cf56db6
spec:
  containers:
  - image: registry.example.com/api:1.4.2
    name: api
    resources:
      limits:
        memory: 256Mi
status:
  containerStatuses:
  - image: registry.example.com/api:1.4.2
    lastState:
      terminated:
        exitCode: 137
        finishedAt: "2026-03-02T10:05:00Z"
        reason: OOMKilled
    name: api
    ready: false
    restartCount: 7
    state:
      waiting:
        message: back-off 5m0s restarting failed container=api pod=api-6d4cf56db6-2xk9q_shop(1234)
        reason: CrashLoopBackOff
  phase: Running
"""


def test_a_pod_printed_as_yaml_or_json_is_read_like_its_description():
    import json

    import yaml

    as_json = json.dumps(yaml.safe_load(POD_YAML), indent=2)
    for tool, text, reason_line in (
        ("pod_describe", POD_YAML, "reason: OOMKilled"),
        ("log_tail", "stdout: " + POD_YAML.replace("\n", "\nstdout: "), "reason: OOMKilled"),
        ("list_pods", as_json, '"reason": "OOMKilled"'),
    ):
        [f] = analyze_text(tool, text)
        assert f.signature == "oom-killed" and f.facts["memory_limit"] == "256Mi", tool
        assert f.facts["deployment"] == "api" and f.facts["restarts"] == 7
        assert reason_line in lines_of(f)
    assert not unreadable("pod_describe", POD_YAML) and not unreadable("pod_describe", as_json)


def test_an_image_pull_error_in_an_object_quotes_the_registrys_answer():
    text = (
        POD_YAML.replace(
            "    lastState:\n      terminated:\n        exitCode: 137\n"
            '        finishedAt: "2026-03-02T10:05:00Z"\n        reason: OOMKilled\n',
            "    lastState: {}\n",
        )
        .replace(
            "message: back-off 5m0s restarting failed container=api pod=api-6d4cf56db6-2xk9q_shop(1234)",
            "message: 'rpc error: code = NotFound desc = failed to pull and unpack image "
            '"registry.example.com/api:1.4.3": registry.example.com/api:1.4.3: not found\'',
        )
        .replace("reason: CrashLoopBackOff", "reason: ErrImagePull")
    )
    [f] = analyze_text("pod_describe", text)
    assert f.signature == "image-pull-failed" and f.facts["cause"] == "tag-not-found"
    assert lines_of(f)[0] == "reason: ErrImagePull" and "not found" in lines_of(f)[-1]


def test_kernel_lines_that_state_a_failure_without_a_level_word():
    for line in (
        "Mar 03 10:00:01 web-01 kernel: api[4411]: segfault at 0 ip 000055d1c2a1b2c3 sp 00007ffd error 4 in api",
        "Mar 03 10:00:01 db-01 kernel: INFO: task postgres:811 blocked for more than 120 seconds.",
        "Mar 03 10:00:01 web-01 kernel: watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [java:901]",
        "Mar 03 10:00:01 app-01 kernel: nfs: server files-01 not responding, still trying",
        "Mar 03 10:00:01 lb-01 kernel: e1000e 0000:00:19.0 eth0: NIC Link is Down",
        "Mar 03 10:00:01 lb-01 kernel: TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.",
    ):
        found = analyze_text("log_tail", line, args={"source": "/var/log/kern.log"})
        assert [line] in [lines_of(f) for f in found], line


def test_timestamps_of_postgres_journal_short_full_and_elasticsearch():
    from assistant.findings.logtext import read_line

    cases = {
        "2026-03-03 10:00:01.123 UTC [811] FATAL:  too many connections": "2026-03-03 10:00:01.123 UTC",
        "Tue 2026-03-03 10:01:05 UTC app-01 billing[811]: ERROR ledger down": "Tue 2026-03-03 10:01:05 UTC",
        "2026-03-03 10:00:01 ERROR boom": "2026-03-03 10:00:01",  # a level word is not a time zone
        "[2026-03-03T10:00:01,123][WARN ][o.e.c.r.a.DiskThresholdMonitor] [es-1] flood stage": "2026-03-03T10:00:01,123",
    }
    for raw, stamp in cases.items():
        assert read_line(raw).timestamp == stamp, raw
    assert (
        read_line("Tue 2026-03-03 10:01:05 UTC app-01 billing[811]: ERROR ledger down").program == "billing"
    )
    assert read_line("2026-03-03 10:00:01 ERROR boom").message == "ERROR boom"


def test_condition_polarity_hpa_and_certificate():
    hpa = """\
Name:                                                  web
Namespace:                                             shop
Conditions:
  Type            Status  Reason               Message
  ----            ------  ------               -------
  AbleToScale     True    ReadyForNewScale     recommended size matches current size
  ScalingActive   False   FailedGetResourceMetric  the HPA was unable to compute the replica count: failed to get cpu utilization
  ScalingLimited  False   DesiredWithinRange   the desired count is within the acceptable range
"""
    [f] = analyze_text("pod_describe", hpa)
    assert f.facts["conditions"] == ["ScalingActive"] and f.facts["reasons"] == ["FailedGetResourceMetric"]
    cert = "Name:         shop-tls\nConditions:\n  Type   Status  Reason   Message\n  Ready  False   DoesNotExist  Issuing certificate as Secret does not exist\n"
    assert analyze_text("pod_describe", cert)[0].facts["conditions"] == ["Ready"]


def test_routine_4xx_answers_are_not_faults_even_with_an_error_body():
    for status in ("400 Bad Request", "405 Method Not Allowed"):
        text = f'HTTP/1.1 {status}\ncontent-type: application/json\n\n{{"error":"missing parameter q"}}\n'
        assert analyze_text("http_check", text, args={"url": "http://api/search"}) == []
    blocked = (
        'HTTP/1.1 403 Forbidden\n\n{"error":{"type":"cluster_block_exception","reason":"index read-only"}}\n'
    )
    assert by_sig(analyze_text("http_check", blocked, args={"url": "http://es:9200/x"}), "http-error-status")


def test_apparmor_denial_of_a_real_service_profile_still_counts():
    line = (
        'Mar 03 10:00:01 db-01 kernel: audit: type=1400 audit(1709460001.123:88): apparmor="DENIED" '
        'operation="open" profile="/usr/sbin/mysqld" name="/data/mysql/ibdata1" pid=811 comm="mysqld"'
    )
    assert [line] in [lines_of(f) for f in analyze_text("log_tail", line, args={"source": "/var/log/syslog"})]


# ------------------------------------------------------------------ more thresholds and listings


def test_node_memory_from_kubectl_top_and_host_memory_from_proc_meminfo():
    top = """\
NAME       CPU(cores)   CPU%   MEMORY(bytes)   MEMORY%
node-1     250m         6%     15321Mi         97%
node-2     180m         4%     6012Mi          38%
"""
    [f] = analyze_text("log_tail", top)
    assert f.signature == "memory-exhausted" and f.facts["host"] == "node-1"
    assert lines_of(f) == ["node-1     250m         6%     15321Mi         97%"]
    meminfo = "MemTotal:        8049164 kB\nMemFree:          112000 kB\nMemAvailable:     201000 kB\n"
    [m] = analyze_text("host_resources", meminfo)
    assert lines_of(m) == ["MemAvailable:     201000 kB", "MemTotal:        8049164 kB"]
    assert analyze_text("host_resources", meminfo.replace("201000", "5201000")) == []


def test_unbound_claims_and_the_wait_for_first_consumer_mode():
    pvc = """\
NAME        STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   AGE
data-pg-0   Pending                                      fast           5m
logs        Bound     pvc-1    10Gi       RWO            standard       9d
"""
    [f] = analyze_text("log_tail", pvc, args={"namespace": "db"})
    assert f.signature == "pvc-not-bound" and f.severity == "medium" and f.facts["claim"] == "data-pg-0"
    assert [(c.tool, c.args) for c in f.checks] == [
        ("k8s_events", {"namespace": "db", "involved_object": "data-pg-0"})
    ]
    waiting = (
        pvc + "  Normal  WaitForFirstConsumer  2m  persistentvolume-controller  waiting for first consumer\n"
    )
    assert analyze_text("log_tail", waiting, args={"namespace": "db"})[0].severity == "info"


# ------------------------------------------------------------------ systemd results read from the journal alone


UNIT_JOURNAL = """\
Mar 03 10:00:01 app-01 systemd[1]: Started api.service - API.
Mar 03 10:00:02 app-01 api[4411]: panic: open /etc/api/config.toml: no such file or directory
Mar 03 10:00:02 app-01 systemd[1]: api.service: Main process exited, code=exited, status=2/INVALIDARGUMENT
Mar 03 10:00:02 app-01 systemd[1]: api.service: Failed with result 'exit-code'.
Mar 03 10:00:07 app-01 systemd[1]: api.service: Scheduled restart job, restart counter is at 5.
Mar 03 10:00:07 app-01 systemd[1]: api.service: Start request repeated too quickly.
Mar 03 10:00:07 app-01 systemd[1]: api.service: Failed with result 'exit-code'.
Mar 03 10:00:07 app-01 systemd[1]: Failed to start api.service - API.
"""


def test_unit_results_from_its_journal_without_a_status_header():
    found = analyze_text("log_tail", UNIT_JOURNAL, args={"source": "unit:api"})
    [unit] = by_sig(found, "unit-failed")
    assert unit.facts == {
        "unit": "api",
        "state": "failed",
        "result": "exit-code",
        "exit_status": "2/INVALIDARGUMENT",
        "restarts": 5,
        "start_limit": True,
    }
    assert "Mar 03 10:00:07 app-01 systemd[1]: api.service: Start request repeated too quickly." in lines_of(
        unit
    )
    [said] = by_sig(found, "error-lines")  # the program's own words; systemd's lines are the unit's finding
    assert said.facts["message"] == "panic: open /etc/api/config.toml: no such file or directory"


def test_a_unit_running_again_after_its_failures_and_a_oneshot_that_finished():
    again = UNIT_JOURNAL.split("Mar 03 10:00:07")[0] + (
        "Mar 03 10:00:07 app-01 systemd[1]: api.service: Scheduled restart job, restart counter is at 1.\n"
        "Mar 03 10:00:07 app-01 systemd[1]: Started api.service - API.\n"
    )
    [unit] = by_sig(analyze_text("log_tail", again, args={"source": "unit:api"}), "unit-failed")
    assert (
        unit.severity == "medium" and "running again" in unit.title and unit.facts["state"] == "auto-restart"
    )
    oneshot = """\
Mar 03 03:00:00 db-01 systemd[1]: Starting pg-backup.service - Nightly backup...
Mar 03 03:00:41 db-01 systemd[1]: pg-backup.service: Deactivated successfully.
Mar 03 03:00:41 db-01 systemd[1]: Finished pg-backup.service - Nightly backup.
"""
    assert analyze_text("log_tail", oneshot, args={"source": "unit:pg-backup"}) == []
    other = analyze_text("log_tail", UNIT_JOURNAL, args={"source": "unit:worker"})
    assert by_sig(other, "unit-failed") == []  # another unit's journal lines are not this unit's result


def test_a_resolver_that_answers_servfail_or_refused_is_a_dns_failure():
    for text, rcode in (
        (";; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: 4242\n", "SERVFAIL"),
        ("Host db.internal not found: 2(SERVFAIL)\n", "SERVFAIL"),
        ("** server can't find db.internal: REFUSED\n", "REFUSED"),
    ):
        [f] = analyze_text("dns_lookup", text, args={"name": "db.internal"})
        assert f.signature == "dns-timeout" and f"answered {rcode}" in f.title
        assert lines_of(f) == [text.strip()]


def test_a_diagnostic_commands_own_error_is_a_failure_and_its_known_noise_is_not():
    text = """\
Filesystem      Size  Used Avail Use% Mounted on
/dev/sda1        20G   5G   15G  25% /
df: /mnt/backup: Stale file handle
df: /run/user/1000/doc: Operation not permitted
"""
    [f] = analyze_text("disk_usage", text)
    assert f.signature == "error-lines" and lines_of(f) == ["df: /mnt/backup: Stale file handle"]
    assert analyze_text("disk_usage", text.replace("df: /mnt/backup: Stale file handle\n", "")) == []


def test_a_pod_running_but_not_ready_is_a_symptom_after_its_start_up():
    text = """\
NAME    READY   STATUS    RESTARTS   AGE
web-1   0/1     Running   0          2d
web-2   0/1     Running   0          45s
web-3   1/1     Running   0          3d
"""
    [f] = analyze_text("list_pods", text, args={"namespace": "shop"})
    assert f.facts["pod"] == "web-1" and f.severity == "info"  # its describe says why; that is the cause
    assert lines_of(f) == ["web-1   0/1     Running   0          2d"]


def test_journal_without_permission_is_a_gap_and_kubectl_notices_are_noise():
    from assistant.findings.benign import benign

    for text in (
        "No journal files were opened due to insufficient permissions.",
        "Hint: You are currently not seeing messages from other users and the system.\n"
        "      Users in groups 'adm', 'systemd-journal' can see all messages.\n-- No entries --\n",
    ):
        assert analyze_text("log_tail", text, args={"source": "unit:api"}) == []
        assert unreadable("log_tail", text)
    for line in (
        "Unable to use a TTY - input is not a terminal or the right kind of file",
        "Warning: resource deployments/api is missing the kubectl.kubernetes.io/last-applied-configuration "
        "annotation which is required by kubectl apply.",
    ):
        assert benign(line) is not None and analyze_text("pod_logs", line, args={"pod": "api-1"}) == []


def test_node_taints_set_by_the_node_controller_and_a_cordon_that_is_not_a_fault():
    sick = """\
Name:               node-3
Roles:              <none>
Taints:             node.kubernetes.io/unreachable:NoExecute
                    node.kubernetes.io/unreachable:NoSchedule
Unschedulable:      false
"""
    [f] = analyze_text("log_tail", sick)
    assert f.signature == "node-condition" and f.facts == {
        "node": "node-3",
        "conditions": ["taint unreachable"],
    }
    assert lines_of(f) == [
        "Taints:             node.kubernetes.io/unreachable:NoExecute",
        "node.kubernetes.io/unreachable:NoSchedule",
    ]
    cordoned = "Name:               node-1\nTaints:             node.kubernetes.io/unschedulable:NoSchedule\n"
    assert analyze_text("log_tail", cordoned) == []


def test_a_pods_default_tolerations_are_not_node_taints():
    pod = """\
Name:             web-1
Namespace:        shop
Status:           Running
Tolerations:      node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                  node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
Events:           <none>
"""
    assert analyze_text("pod_describe", pod) == []
