"""What the offline model does with a cluster's evidence once a check answers (issue 17, round 2): where the pods
are when no namespace was named outright, the describe a conclusive event still deserves, the nodes behind an
eviction or a pod no node accepts, a crashed container's last words, a describe that cannot run, and a healthy
namespace after a deploy.
"""

from __future__ import annotations

from test_runbook_strategy import K8S, Session, ok

from assistant.runbook.entities import extract, released, service_namespaces

# ------------------------------------------------------------------ where the pods are


def test_a_word_before_namespace_names_it_but_kubernetes_nouns_and_adjectives_do_not():
    assert extract("finance namespace - ledger pods never get past Init:0/1").namespaces == ["finance"]
    assert extract("I think it was deployed to the wrong namespace").namespaces == []
    assert extract("pods stuck, nothing useful in events or in init containers").namespaces == []


def test_release_subjects_kubectl_pairs_and_service_dns_names_are_places_to_try():
    assert released("We deployed billing 5.0.3 an hour ago. Is anything wrong?") == ["billing"]
    assert released("After the deploy, is something wrong with payments?") == ["payments"]
    assert service_namespaces("it waits for ledger-db.finance.svc.cluster.local") == ["finance"]
    assert service_namespaces("billing/invoicer is slow; kubectl rollout restart deploy/web") == ["billing"]
    assert service_namespaces("logs in /var/log/app and read/write errors") == []


def test_when_every_listing_is_a_gap_the_release_named_is_tried_as_namespace_and_events_never_is():
    listing = (
        "NAME                           READY   STATUS      RESTARTS   AGE\n"
        "ledger-api-7d8c9b6f5-4hx2p     1/1     Running     0          9m\n"
        "ledger-close-29414880-5tq8d    0/1     Completed   0          6h\n"
    )
    s = Session(K8S, "We rolled out ledger 5.0.3 an hour ago, I see nothing in events. Is anything wrong?")
    answer = s.run({"list_pods:ledger": ok(listing)})
    tried = [a.get("namespace") for n, a in s.asked if n == "list_pods"]
    assert "ledger" in tried and "events" not in tried
    assert "No fault found" in answer


# ------------------------------------------------------------------ a listing's pods, and what follows them


INIT_LISTING = (
    "NAME                       READY   STATUS     RESTARTS   AGE\n"
    "ledger-7b9c6d5f4-q2w8e     0/1     Init:0/1   0          22m\n"
    "fx-rates-6c5d4b3a2-p9o8i   1/1     Running    0          6d\n"
)
INIT_DESCRIBE = (
    "Name:             ledger-7b9c6d5f4-q2w8e\n"
    "Namespace:        finance\n"
    "Status:           Pending\n"
    "Init Containers:\n"
    "  wait-for-db:\n"
    "    Image:         busybox:1.36\n"
    "    State:          Running\n"
    "    Ready:          False\n"
    "    Restart Count:  0\n"
    "Containers:\n"
    "  ledger:\n"
    "    State:          Waiting\n"
    "      Reason:       PodInitializing\n"
    "    Ready:          False\n"
    "    Restart Count:  0\n"
)


def test_an_init_container_that_waits_has_its_own_logs_read_and_quoted():
    logs = "nc: bad address 'ledger-db-primary'\nwaiting for ledger-db-primary\n" * 3
    s = Session(K8S, "finance namespace: ledger pods never get past Init:0/1 since the upgrade")
    answer = s.run(
        {
            "list_pods:finance": ok(INIT_LISTING),
            "pod_describe": ok(INIT_DESCRIBE),
            "pod_logs:wait-for-db": ok(logs),
        }
    )
    assert ("pod_describe", {"pod": "ledger-7b9c6d5f4-q2w8e", "namespace": "finance"}) in s.asked
    assert any(n == "pod_logs" and a.get("container") == "wait-for-db" for n, a in s.asked)
    assert "ledger-db-primary" in answer


def test_a_conclusive_pull_error_in_the_events_still_gets_the_pod_described():
    listing = (
        "NAME                 READY   STATUS             RESTARTS   AGE\n"
        "victoria-metrics-1   0/1     ImagePullBackOff   0          18m\n"
    )
    events = (
        "LAST SEEN   TYPE      REASON    OBJECT                   MESSAGE\n"
        '17m         Warning   Failed    Pod/victoria-metrics-1   Failed to pull image "vm:v1.102.1": '
        "429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit.\n"
    )
    s = Session(K8S, "victoria-metrics-1 in the metrics namespace is stuck in ImagePullBackOff")
    answer = s.run({"list_pods:metrics": ok(listing), "k8s_events:metrics": ok(events)})
    assert ("pod_describe", {"pod": "victoria-metrics-1", "namespace": "metrics"}) in s.asked
    assert "toomanyrequests" in answer


def test_an_eviction_leads_to_the_nodes_and_the_node_the_pod_ran_on():
    listing = (
        "NAME                       READY   STATUS    RESTARTS   AGE\n"
        "catalog-5d8f7c6b9-4kq2m    0/1     Evicted   0          3h\n"
    )
    describe = (
        "Name:             catalog-5d8f7c6b9-4kq2m\n"
        "Namespace:        shop\n"
        "Node:             worker-03/10.20.0.13\n"
        "Status:           Failed\n"
        "Reason:           Evicted\n"
        "Message:          The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 6%.\n"
    )
    nodes = "NAME        STATUS   ROLES    AGE    VERSION\nworker-03   Ready    <none>   410d   v1.30.4\n"
    s = Session(K8S, "catalog pods in the shop namespace got evicted. Why?")
    answer = s.run({"list_pods:shop": ok(listing), "pod_describe": ok(describe), "node_status": ok(nodes)})
    assert ("node_status", {}) in s.asked
    assert ("node_status", {"node": "worker-03"}) in s.asked
    assert "ephemeral-storage" in answer


def test_a_describe_that_cannot_run_leads_to_the_events_and_the_workloads_other_pods():
    listing = (
        "NAME                       READY   STATUS             RESTARTS   AGE\n"
        "api-7c9d8b6f5-x2k4p        0/1     CrashLoopBackOff   5          12m\n"
        "api-7c9d8b6f5-m3n4b        0/1     CrashLoopBackOff   4          12m\n"
    )
    s = Session(K8S, "api pods in namespace web keep failing")
    s.run(
        {
            "list_pods:web": ok(listing),
            "pod_describe:api-7c9d8b6f5-x2k4p": ("", None, "pods not found"),
        }
    )
    assert ("k8s_events", {"namespace": "web"}) in s.asked
    assert ("pod_describe", {"pod": "api-7c9d8b6f5-m3n4b", "namespace": "web"}) in s.asked


# ------------------------------------------------------------------ a crashed container's last words


REDIS_DESCRIBE = (
    "Name:             sessions-0\n"
    "Namespace:        cache\n"
    "Containers:\n"
    "  redis:\n"
    "    State:          Waiting\n"
    "      Reason:       CrashLoopBackOff\n"
    "    Last State:     Terminated\n"
    "      Reason:       Error\n"
    "      Exit Code:    1\n"
    "    Ready:          False\n"
    "    Restart Count:  9\n"
)


def test_a_crash_loops_previous_logs_are_read_once_and_their_last_error_is_quoted():
    listing = "NAME         READY   STATUS             RESTARTS   AGE\nsessions-0   0/1     CrashLoopBackOff   9   1h\n"
    previous = (
        "1:M 03 Dec 2026 12:00:00.101 * Reading RDB base file on AOF loading...\n"
        "1:M 03 Dec 2026 12:00:00.212 # Bad file format reading the append only file appendonly.aof.3.incr.aof: "
        "make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>\n"
    )
    s = Session(
        K8S, "sessions-0 in the cache namespace keeps crash-looping since its node died. What is wrong?"
    )
    answer = s.run(
        {"list_pods:cache": ok(listing), "pod_describe": ok(REDIS_DESCRIBE), "pod_logs": ok(previous)}
    )
    reads = [a for n, a in s.asked if n == "pod_logs" and a.get("previous")]
    assert len(reads) == 1, reads
    assert "Bad file format reading the append only file" in answer
    assert "deployment/sessions-0" not in answer  # a StatefulSet's pod: its controller is named as such
    assert "statefulset/sessions" in answer


# ------------------------------------------------------------------ a healthy namespace


def test_a_healthy_namespace_after_a_deploy_is_no_fault_with_what_was_seen():
    listing = (
        "NAME                              READY   STATUS      RESTARTS   AGE\n"
        "orders-api-7d8c9b6f5-4hx2p        1/1     Running     0          9m\n"
        "orders-reconcile-29414880-5tq8d   0/1     Completed   0          6h\n"
    )
    events = (
        "LAST SEEN   TYPE      REASON              OBJECT                         MESSAGE\n"
        "9m          Normal    ScalingReplicaSet   Deployment/orders-api          Scaled up replica set "
        "orders-api-7d8c9b6f5 to 1\n"
        "8m          Warning   Unhealthy           Pod/orders-api-7d8c9b6f5-4hx2p Readiness probe failed: Get "
        '"http://10.2.4.57:8080/ready": dial tcp 10.2.4.57:8080: connect: connection refused\n'
    )
    s = Session(K8S, "We just rolled out 3.2.0 to the orders namespace. Is anything wrong there?")
    answer = s.run({"list_pods:orders": ok(listing), "k8s_events:orders": ok(events)})
    assert "No fault found" in answer
    assert "running and ready" in answer
