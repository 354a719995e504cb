"""node_status against the local Kubernetes API stand-in, checked against the real kubectl."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from k8s_api import KUBECTL, kubectl, without_sections

from tools.catalog import TOOLS
from tools.runner import run_tool
from tools.targets import open_target

needs_kubectl = pytest.mark.skipif(not KUBECTL.exists(), reason="/usr/bin/kubectl is not installed")


async def test_listing_shows_status_roles_version_and_abnormal_conditions(kube_target):
    result = await run_tool(kube_target, "node_status", {})
    assert result.command == "kubectl get nodes -o wide" and result.exit_code == 0
    table, _, summary = result.output.partition("\n\n")
    rows = [line.split() for line in table.splitlines()]
    assert rows[0][:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows[1:]] == [
        ("node-a", "Ready", "control-plane", "v1.29.2", "10.0.0.10"),
        ("node-b", "Ready", "<none>", "v1.29.2", "10.0.0.11"),
        ("node-c", "NotReady,SchedulingDisabled", "worker", "v1.28.6", "10.0.0.12"),
    ]
    lines = summary.splitlines()
    assert lines[1].split() == ["NODE", "CONDITION", "STATUS", "REASON", "MESSAGE"]
    assert re.search(r"node-b\s+MemoryPressure\s+True\s+KubeletHasInsufficientMemory\s+kubelet has", summary)
    assert re.search(r"node-c\s+Ready\s+Unknown\s+NodeStatusUnknown\s+Kubelet stopped posting", summary)
    assert "node-a" not in summary
    facts = {n["name"]: n for n in result.data["nodes"]}
    assert facts["node-c"]["unschedulable"] and facts["node-a"]["abnormal"] == []
    assert [c["type"] for c in facts["node-b"]["abnormal"]] == ["MemoryPressure"]


@needs_kubectl
async def test_describe_node_reads_like_kubectl(kube_target, kube_config, tmp_path, kube_api):
    result = await run_tool(kube_target, "node_status", {"node": "node-b"})
    assert result.command == "kubectl describe node node-b" and result.exit_code == 0
    assert "Taints:             node.kubernetes.io/memory-pressure:NoSchedule" in result.output
    assert re.search(
        r"Warning\s+EvictionThresholdMet\s+\S+ \(x6 over \S+\)\s+kubelet\s+Attempting", result.output
    )
    assert any("involvedObject.kind%3DNode" in path for _, path in kube_api.requests)
    real = await kubectl(kube_config, tmp_path, "describe", "node", "node-b")
    assert result.output == without_sections(real, "Lease", "Non-terminated Pods", "Allocated resources")


async def test_missing_node_is_kubectls_not_found(kube_target):
    result = await run_tool(kube_target, "node_status", {"node": "node-z"})
    assert result.exit_code == 1
    assert result.output == 'Error from server (NotFound): nodes "node-z" not found\n'


@pytest.mark.parametrize(
    "args, message",
    [
        ({"node": "Node_B"}, "node"),
        ({"node": "a" * 254}, "node"),
        ({"node": "node-b", "namespace": "shop"}, "namespace"),
    ],
)
def test_invalid_arguments_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        TOOLS["node_status"].validate_args(args)


async def test_sandbox_cluster_has_no_nodes():
    sandbox = open_target("sandbox:oom-killed")
    listing = await run_tool(sandbox, "node_status", {})
    assert listing.output == "No resources found\n" and listing.data == {"nodes": []}
    named = await run_tool(sandbox, "node_status", {"node": "node-1"})
    assert named.exit_code == 1 and 'nodes "node-1" not found' in named.output
