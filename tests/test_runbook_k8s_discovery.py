"""How the offline model finds the failing workload in a cluster and reads its evidence (issue 17): where the
pods are (an all-namespaces listing when no namespace is named, the row's own namespace after it), which
words of the message can name a namespace or workload, what follows a check that could not run, and which
URLs in a log are places to check.
"""

from __future__ import annotations

from test_runbook_strategy import K8S, Session, ok

from assistant.findings.generic import leads
from assistant.runbook.entities import extract, k8s_name

LISTING_A = (
    "NAMESPACE     NAME                               READY   STATUS             RESTARTS       AGE\n"
    "kube-system   coredns-7db6d8ff4d-7xk2p           1/1     Running            0              9d\n"
    "monitoring    node-exporter-8k2lp                0/1     CrashLoopBackOff   31 (4m ago)    2d\n"
    "billing       invoice-pdf-6c9f7b8d5-q2w8r        0/1     CrashLoopBackOff   7 (2m ago)     14m\n"
    "billing       invoice-pdf-5d8c6b7f4-a1b2c        1/1     Running            0              3d\n"
    "billing       ledger-api-7f6d5c4b3-zz9yx         1/1     Running            0              3d\n"
)
DESCRIBE = (
    "Name:             invoice-pdf-6c9f7b8d5-q2w8r\n"
    "Namespace:        billing\n"
    "Controlled By:  ReplicaSet/invoice-pdf-6c9f7b8d5\n"
    "Containers:\n"
    "  invoice-pdf:\n"
    "    Image:          registry.example.com/invoice-pdf:2.0.0\n"
    "    State:          Waiting\n"
    "      Reason:       CrashLoopBackOff\n"
    "    Last State:     Terminated\n"
    "      Reason:       Error\n"
    "      Exit Code:    255\n"
    "    Ready:          False\n"
    "    Restart Count:  7\n"
    "Events:\n"
    "  Type     Reason     Age                    From               Message\n"
    "  ----     ------     ----                   ----               -------\n"
    "  Warning  BackOff    10s (x20 over 4m23s)   kubelet            Back-off restarting failed container "
    "invoice-pdf in pod invoice-pdf-6c9f7b8d5-q2w8r_billing(6b5a4c3d)\n"
)


# ------------------------------------------------------------------ which words name a namespace or a workload


def test_kubectl_flags_and_phrases_name_namespaces():
    assert extract("kubectl get pods --namespace=shop shows errors").namespaces == ["shop"]
    assert extract("kubectl -n=web get pods shows the frontend not ready").namespaces == ["web"]
    assert extract("pods in ns/payments keep restarting").namespaces == ["payments"]
    assert extract("orders-svc in the orders namespace is crash-looping").namespaces == ["orders"]


def test_a_move_between_namespaces_names_the_destination_first():
    e = extract("invoice-renderer pods never start since we moved it from the apps namespace into billing")
    assert e.namespaces == ["billing", "apps"]
    assert "into" not in e.namespaces


def test_verbs_adverbs_states_and_the_container_runtime_name_nothing():
    e = extract("the storefront-ssr app never becomes ready after the docker rebuild, it keeps crash-looping")
    assert e.namespaces == []
    assert "never" not in e.deployments and "storefront-ssr" in e.deployments
    for word in ("never", "into", "docker", "crash-looping", "restarting", "oomkilled", "kubelet"):
        assert not k8s_name(word), word
    assert k8s_name("billing") and k8s_name("web", said=True) and not k8s_name("web")


# ------------------------------------------------------------------ where the pods are


def test_no_namespace_named_lists_every_namespace_first_and_reads_the_crashed_rows_evidence():
    s = Session(
        K8S, "invoice-pdf keeps crash-looping since the new docker image was pushed, it never starts. Why?"
    )
    previous = ok("exec /app/invoice-pdf: exec format error\n")
    outputs = {
        "list_pods:True": ok(LISTING_A),
        "pod_describe:invoice-pdf-6c9f7b8d5-q2w8r": ok(DESCRIBE),
        "pod_logs:True": previous,
        "pod_logs": previous,
    }
    s.step(outputs)
    assert s.asked == [("list_pods", {"all_namespaces": True})]
    answer = s.run(outputs)
    pods = [(n, a.get("pod"), a.get("namespace")) for n, a in s.asked if n in ("pod_describe", "pod_logs")]
    assert ("pod_describe", "invoice-pdf-6c9f7b8d5-q2w8r", "billing") in pods
    assert (
        "pod_logs",
        {"pod": "invoice-pdf-6c9f7b8d5-q2w8r", "namespace": "billing", "previous": True},
    ) in s.asked
    assert not any(p == "node-exporter-8k2lp" for _, p, _ in pods)  # another namespace's trouble, not named
    assert "exec /app/invoice-pdf: exec format error" in answer
    namespaces = {a.get("namespace") for n, a in s.asked if n == "list_pods"} - {None, "default"}
    assert not namespaces & {"docker", "never", "crash-looping", "into"}


def test_nothing_named_describes_the_not_ready_rows_of_every_namespace():
    s = Session(K8S, "something in the cluster is crash-looping since the node upgrade, what is it?")
    s.run({"list_pods:True": ok(LISTING_A)})
    described = {(a["pod"], a["namespace"]) for n, a in s.asked if n == "pod_describe"}
    assert {("invoice-pdf-6c9f7b8d5-q2w8r", "billing"), ("node-exporter-8k2lp", "monitoring")} <= described


def test_a_failed_listing_everywhere_is_a_gap_and_junk_words_are_never_tried_as_namespaces():
    s = Session(K8S, "storefront-ssr never finishes its rollout, the docker image keeps crash-looping")
    s.run({})
    asked = [(n, a.get("namespace"), a.get("all_namespaces")) for n, a in s.asked]
    assert asked[0] == ("list_pods", None, True)
    assert ("list_pods", "default", None) in asked and ("k8s_events", "default", None) in asked
    tried = {ns for n, ns, _ in asked if n == "list_pods"}
    assert not tried & {"docker", "never", "crash-looping", "into", "prod"}


def test_a_failed_listing_in_the_named_namespace_goes_on_to_events_and_the_rollout():
    events = (
        "LAST SEEN   TYPE      REASON         OBJECT                                 MESSAGE\n"
        "1m          Warning   FailedCreate   replicaset/invoice-renderer-7c9d8b6f5   Error creating: pods "
        '"invoice-renderer-7c9d8b6f5-abcde" is forbidden: exceeded quota: billing-quota, requested: '
        "limits.memory=2Gi, used: limits.memory=15Gi, limited: limits.memory=16Gi\n"
    )
    s = Session(
        K8S, "the invoice-renderer deployment in namespace billing has no pods after the deploy, why?"
    )
    answer = s.run(
        {"list_pods:billing": ("", None, "timeout talking to the API server"), "k8s_events": ok(events)}
    )
    assert ("k8s_events", {"namespace": "billing"}) in s.asked
    assert ("rollout_status", {"deployment": "invoice-renderer", "namespace": "billing"}) in s.asked
    assert "exceeded quota: billing-quota" in answer


def test_a_describe_that_cannot_run_is_replaced_by_the_namespaces_events():
    events = (
        "LAST SEEN   TYPE      REASON    OBJECT                                  MESSAGE\n"
        '2m          Warning   Failed    pod/invoice-renderer-7c9d8b6f5-x2k4p    Error: secret "invoice-smtp" not found\n'
    )
    listing = (
        "NAME                                READY   STATUS                       RESTARTS   AGE\n"
        "invoice-renderer-7c9d8b6f5-x2k4p    0/1     CreateContainerConfigError   0          12m\n"
    )
    s = Session(K8S, "invoice-renderer pods in namespace billing never start")
    answer = s.run({"list_pods:billing": ok(listing), "k8s_events:billing": ok(events)})
    assert ("k8s_events", {"namespace": "billing"}) in s.asked
    assert 'secret "invoice-smtp" not found' in answer


# ------------------------------------------------------------------ later turns, and links in logs


def test_a_later_turn_of_a_cluster_conversation_stays_in_the_cluster():
    listing = (
        "NAME                          READY   STATUS    RESTARTS   AGE\n"
        "catalog-7d5c4b9a8f-hh7nq      1/1     Running   0          2d\n"
    )
    outputs = {"list_pods:catalog": ok(listing), "k8s_events": ok("No events found in catalog namespace.\n")}
    s = Session(K8S, "are the catalog pods in namespace catalog ok?")
    s.run(outputs)
    s.messages.append({"role": "assistant", "content": "They look healthy."})
    s.messages.append({"role": "user", "content": "and what about the rest, is anything else wrong?"})
    s.asked.clear()
    s.run(outputs)
    names = {n for n, _ in s.asked}
    assert not names & {"host_resources", "disk_usage", "process_list", "service_status"}


def test_documentation_links_in_log_lines_are_not_checked_but_failed_requests_are():
    loop = (
        '[FATAL] plugin/loop: Loop (127.0.0.1:53 -> :53) detected for zone ".", see '
        'https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."'
    )
    assert not [c for c in leads(loop) if c.tool == "http_check"]
    jemalloc = "<jemalloc>: (This is the expected behaviour if you are running under QEMU) https://github.com/jemalloc/jemalloc/issues/1328"
    assert not [c for c in leads(jemalloc) if c.tool == "http_check"]
    failed = 'Post "https://vault.internal:8200/v1/auth/kubernetes/login": x509: certificate signed by unknown authority'
    assert [c.args for c in leads(failed) if c.tool == "http_check"] == [
        {"url": "https://vault.internal:8200/v1/auth/kubernetes/login"}
    ]


def test_a_cluster_session_names_no_host_so_findings_never_send_it_to_host_checks():
    listing = (
        "NAME                        READY   STATUS    RESTARTS   AGE\n"
        "frontend-7b8c9d6f5-c8q2v    0/1     Running   0          20m\n"
    )
    logs = (
        "2026-12-03T10:00:01Z ERROR redis: connect ECONNREFUSED 10.96.14.2:6379 (redis-master.web.svc:6379)\n"
        "2026-12-03T10:00:02Z ERROR readiness: cache unavailable: Error: connect ECONNREFUSED 10.96.14.2:6379\n"
    )
    s = Session(K8S, "the frontend pods in namespace web are not ready since 10:00, redis errors in the logs")
    s.run(
        {
            "list_pods": ok(listing),
            "pod_logs": ok(logs),
            "pod_describe": ok("Name: frontend-7b8c9d6f5-c8q2v\n"),
        }
    )
    assert ("pod_logs", {"pod": "frontend-7b8c9d6f5-c8q2v", "namespace": "web", "previous": False}) in s.asked
    names = {n for n, _ in s.asked}
    assert not names & {"service_status", "host_resources", "disk_usage", "process_list", "port_owner"}


def test_a_pod_named_in_full_is_described_when_no_listing_shows_it():
    s = Session(K8S, "pod checkout-7b8c9d6e5f-2kq8x keeps restarting, why?")
    s.run({"pod_describe": ok("Name: checkout-7b8c9d6e5f-2kq8x\nNamespace: default\n")})
    assert s.asked[0] == ("list_pods", {"all_namespaces": True})
    assert ("pod_describe", {"pod": "checkout-7b8c9d6e5f-2kq8x", "namespace": "default"}) in s.asked


# ------------------------------------------------------------------ what the events say, in their own words


def test_event_messages_that_explain_a_failure_are_findings_with_their_exact_line():
    from assistant.findings import analyze_text

    events = (
        "LAST SEEN   TYPE      REASON             OBJECT                          MESSAGE\n"
        '1m          Warning   FailedCreate       replicaset/api-7c8d9e6f5b       Error creating: pods "api-7c8d9e6f5b-x2x2x" '
        "is forbidden: exceeded quota: team-quota, requested: limits.memory=2Gi, used: limits.memory=15Gi, "
        "limited: limits.memory=16Gi\n"
        '2m          Warning   FailedMount        pod/db-0                        MountVolume.SetUp failed for volume "certs" : '
        'secret "db-tls" not found\n'
        '2m          Warning   Failed             pod/web-6d7f8c9b5d-4b7kx        Error: configmap "web-config" not found\n'
        "5m          Normal    JobAlreadyActive   cronjob/daily-report            Not starting job because prior execution "
        "is running and concurrency policy is Forbid\n"
        "5m          Normal    Scheduled          pod/web-6d7f8c9b5d-4b7kx        Successfully assigned shop/web-6d7f8c9b5d-4b7kx\n"
    )
    found = analyze_text("k8s_events", events, args={"namespace": "shop"})
    lines = [ln for f in found for ev in f.evidence for ln in ev.lines]
    for needle in (
        "exceeded quota: team-quota",
        'secret "db-tls" not found',
        'configmap "web-config" not found',
        "prior execution is running and concurrency policy is Forbid",
    ):
        assert any(needle in ln for ln in lines), needle
    assert not any("Successfully assigned" in ln for ln in lines)
    skipped = next(f for f in found if f.facts.get("reason") == "JobAlreadyActive")
    assert "still running" in skipped.title and skipped.severity != "info"


def test_a_503_in_front_of_ready_pods_names_the_service_selector_as_the_gap():
    listing = (
        "NAME                    READY   STATUS    RESTARTS   AGE\n"
        "cart-7f5c9d8b6-6vq2d    1/1     Running   0          3h\n"
    )
    describe = (
        "Name:             cart-7f5c9d8b6-6vq2d\nNamespace:        shop\n"
        "Labels:           app.kubernetes.io/instance=cart\n"
        "                  app.kubernetes.io/name=cart\n"
        "                  pod-template-hash=7f5c9d8b6\n"
        "Status:           Running\nContainers:\n  cart:\n    State:          Running\n    Ready:          True\n"
        "    Restart Count:  0\nEvents:           <none>\n"
    )
    outputs = {
        "list_pods": ok(listing),
        "pod_describe": ok(describe),
        "pod_logs": ok("listening on :8080\n"),
        "k8s_events": ok("No resources found in shop namespace.\n"),
    }
    s = Session(
        K8S,
        "the ingress returns 503 for /cart since the helm migration; cart pods in namespace shop are Ready",
    )
    answer = s.run(outputs)
    assert (
        "selector" in answer
        and "`app.kubernetes.io/name=cart`" in answer
        and "pod-template-hash" not in answer
    )
    calm = Session(K8S, "are the cart pods in namespace shop ok?")
    assert "selector" not in calm.run(outputs)


def test_a_named_workload_no_listing_showed_is_not_called_healthy():
    empty = {
        "list_pods:default": ok("No resources found in default namespace."),
        "k8s_events:default": ok("No events found in default namespace."),
    }
    s = Session(K8S, "invoice-pdf keeps crash-looping since the new image was pushed. What is wrong?")
    answer = s.run(empty, steps=12)
    assert answer.startswith("**Root cause** — Not determined") and "`invoice-pdf`" in answer
    assert "No fault found" not in answer
