"""Kubernetes investigations, round 3 (issue 17): a node in trouble behind pods that stop answering, Kubernetes'
own nouns never taken for names, a drain blocked by a disruption budget, what we have no tool to see, and a
second look that does not re-read what cannot have changed.
"""

from __future__ import annotations

from test_runbook_strategy import K8S, Session, ok

from assistant.runbook.entities import extract

# ------------------------------------------------------------------ a node in trouble

NODE_LISTING = (
    "NAMESPACE   NAME                      READY   STATUS        RESTARTS   AGE\n"
    "cart        cart-5c6d7e8f9-ab12c      0/1     Terminating   0          2d\n"
    "cart        cart-5c6d7e8f9-cd34e      1/1     Running       0          2d\n"
    "cart        checkout-6f7a8b9c0-ef56g  0/1     Unknown       1          3d\n"
)
NODE_DESCRIBE = (
    "Name:             cart-5c6d7e8f9-ab12c\n"
    "Namespace:        cart\n"
    "Node:             node-b7/10.9.0.17\n"
    "Status:           Terminating (lasts 41m)\n"
    "Containers:\n"
    "  cart:\n"
    "    State:          Running\n"
    "    Ready:          False\n"
    "    Restart Count:  0\n"
    "Conditions:\n"
    "  Ready   False\n"
    "Events:\n"
    "  Warning  NodeNotReady  41m  node-controller  Node is not ready\n"
)
NODE_LOGS_ERROR = (
    'Error from server: Get "https://10.9.0.17:10250/containerLogs/cart/cart-5c6d7e8f9-ab12c/cart": '
    "dial tcp 10.9.0.17:10250: i/o timeout"
)
NODES = (
    "NAME      STATUS     ROLES    AGE    VERSION\n"
    "node-a3   Ready      <none>   300d   v1.29.6\n"
    "node-b7   NotReady   <none>   300d   v1.29.6\n"
)
NODE_B7 = (
    "Name:               node-b7\n"
    "Conditions:\n"
    "  Type    Status   Reason            Message\n"
    "  Ready   Unknown  NodeStatusUnknown Kubelet stopped posting node status.\n"
    "Events:\n"
    "  Warning  ContainerRuntimeUnhealthy  45m  kubelet  PLEG is not healthy: pleg was last seen active 3m0s ago\n"
)


def test_pods_stuck_on_a_lost_node_lead_to_the_nodes_and_the_node_they_ran_on_never_to_the_kubelet_url():
    s = Session(
        K8S, "cart pods are stuck Terminating for 40 minutes and checkout shows Unknown. What happened?"
    )
    answer = s.run(
        {
            "list_pods": ok(NODE_LISTING),
            "pod_describe": ok(NODE_DESCRIBE),
            "pod_logs": (NODE_LOGS_ERROR, 1, None),
            "node_status:node-b7": ok(NODE_B7),
            "node_status": ok(NODES),
        },
        steps=10,
    )
    assert ("node_status", {}) in s.asked
    assert ("node_status", {"node": "node-b7"}) in s.asked
    assert not any(n == "http_check" for n, _ in s.asked), s.asked
    assert "node-b7" in answer
    assert "NotReady" in answer or "PLEG" in answer or "Kubelet stopped posting" in answer


def test_kubernetes_own_nouns_never_become_namespaces_or_deployments():
    for message in (
        "kubectl drain worker-3 hangs: error when evicting pods, Cannot evict pod as it would violate the "
        "pod's disruption budget",
        "after the default-deny networkpolicy the policy podSelector matches nothing, pdb blocks the drain",
    ):
        e = extract(message)
        assert e.namespaces == [] and e.deployments == [], e


# ------------------------------------------------------------------ what no tool here shows

POLICY_LISTING = (
    "NAME                          READY   STATUS    RESTARTS   AGE\n"
    "ledger-7f8e9d6c5b-q1w2e       1/1     Running   0          25m\n"
    "ledger-db-0                   1/1     Running   0          12d\n"
)
POLICY_DESCRIBE = (
    "Name:             ledger-7f8e9d6c5b-q1w2e\n"
    "Namespace:        books\n"
    "Node:             node-a3/10.9.0.13\n"
    "Labels:           app.kubernetes.io/name=ledger\n"
    "                  pod-template-hash=7f8e9d6c5b\n"
    "Status:           Running\n"
    "Containers:\n"
    "  ledger:\n"
    "    State:          Running\n"
    "    Ready:          True\n"
    "    Restart Count:  0\n"
)


def test_timeouts_between_ready_pods_after_a_default_deny_name_the_network_policy_to_check_not_no_fault():
    s = Session(
        K8S,
        "books namespace: since we applied a default-deny NetworkPolicy ledger gets 'dial tcp 10.3.0.9:5432: "
        "i/o timeout' talking to ledger-db. Pods look fine.",
    )
    answer = s.run(
        {
            "list_pods:books": ok(POLICY_LISTING),
            "pod_describe": ok(POLICY_DESCRIBE),
            "pod_logs": ok("starting ledger\nready on :8080\n"),
            "k8s_events": ok("No resources found in books namespace.\n"),
            "rollout_status": ok('deployment "ledger" successfully rolled out\n'),
        }
    )
    assert "No fault found" not in answer
    assert "kubectl -n books get networkpolicy -o yaml" in answer
    assert "app.kubernetes.io/name=ledger" in answer


def test_ready_pods_and_no_policy_named_stay_no_fault():
    s = Session(K8S, "We rolled out ledger to the books namespace, is anything wrong there?")
    answer = s.run(
        {
            "list_pods:books": ok(POLICY_LISTING),
            "pod_describe": ok(POLICY_DESCRIBE),
            "k8s_events": ok("No resources found in books namespace.\n"),
            "rollout_status": ok('deployment "ledger" successfully rolled out\n'),
        }
    )
    assert "No fault found" in answer
    assert "networkpolicy" not in answer


def test_a_describes_default_tolerations_blame_no_node():
    describe = POLICY_DESCRIBE + (
        "Tolerations:      node.kubernetes.io/not-ready:NoExecute op=Exists for 300s\n"
        "                  node.kubernetes.io/unreachable:NoExecute op=Exists for 300s\n"
    )
    s = Session(K8S, "books namespace: ledger answers slowly since this morning")
    s.run({"list_pods:books": ok(POLICY_LISTING), "pod_describe": ok(describe), "pod_logs": ok("ready\n")})
    assert not any(n == "node_status" for n, _ in s.asked), s.asked


# ------------------------------------------------------------------ a drain a disruption budget blocks

ZK_LISTING = (
    "NAME   READY   STATUS             RESTARTS   AGE\n"
    "zk-0   1/1     Running            0          40d\n"
    "zk-1   1/1     Running            0          40d\n"
    "zk-2   0/1     CrashLoopBackOff   512        40d\n"
)
ZK2_DESCRIBE = (
    "Name:             zk-2\nNamespace:        data\nNode:             node-c2/10.9.0.22\n"
    "Controlled By:  StatefulSet/zk\nContainers:\n  zookeeper:\n    State:          Waiting\n"
    "      Reason:       CrashLoopBackOff\n    Last State:     Terminated\n      Reason:       Error\n"
    "      Exit Code:    1\n    Ready:          False\n    Restart Count:  512\n"
)
ZK1_DESCRIBE = (
    "Name:             zk-1\nNamespace:        data\nNode:             node-c1/10.9.0.21\n"
    "Containers:\n  zookeeper:\n    State:          Running\n    Ready:          True\n    Restart Count:  0\n"
)


def test_a_drain_blocked_by_a_disruption_budget_names_the_budget_and_the_member_that_is_not_ready():
    s = Session(
        K8S,
        "kubectl drain node-c1 --ignore-daemonsets has been hanging for 20 minutes:\n"
        "evicting pod data/zk-1\n"
        'error when evicting pods/"zk-1" -n "data" (will retry after 5s): Cannot evict pod as it would violate '
        "the pod's disruption budget.\nWhat is blocking it?",
    )
    answer = s.run(
        {
            "list_pods:data": ok(ZK_LISTING),
            "pod_describe:zk-2": ok(ZK2_DESCRIBE),
            "pod_describe:zk-1": ok(ZK1_DESCRIBE),
            "pod_logs:zk-2": ok(
                "ERROR Unable to write snapshot: java.io.IOException: No space left on device\n"
            ),
            "k8s_events": ok("No resources found in data namespace.\n"),
        },
        steps=10,
    )
    assert ("pod_describe", {"pod": "zk-2", "namespace": "data"}) in s.asked
    assert any(n == "pod_logs" and a.get("pod") == "zk-2" and a.get("previous") for n, a in s.asked)
    assert "PodDisruptionBudget" in answer and "`zk-2` is not Ready" in answer
    assert "kubectl -n data get pdb" in answer
    assert "No space left on device" in answer


# ------------------------------------------------------------------ a second look


def test_a_second_look_reruns_the_listing_but_not_the_logs_that_showed_nothing_seconds_ago():
    outputs = {
        "list_pods:books": ok(POLICY_LISTING),
        "pod_describe": ok(POLICY_DESCRIBE),
        "pod_logs": ok("starting ledger\nready on :8080\n"),
        "k8s_events": ok("No resources found in books namespace.\n"),
    }
    s = Session(K8S, "books namespace: ledger requests hang since the rollout, what is wrong?")
    first = s.run(outputs)
    assert any(n == "pod_logs" for n, _ in s.asked)
    s.messages += [{"role": "assistant", "content": first}, {"role": "user", "content": "look again please"}]
    before = len(s.asked)
    s.run(outputs)
    again = s.asked[before:]
    assert ("list_pods", {"namespace": "books"}) in again
    assert not any(n == "pod_logs" for n, _ in again), again
