"""rollout_status against the local Kubernetes API stand-in, checked against the real kubectl."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from k8s_api import KUBECTL, kubectl, without_sections

from tools.catalog import TOOLS
from tools.runner import run_tool

needs_kubectl = pytest.mark.skipif(not KUBECTL.exists(), reason="/usr/bin/kubectl is not installed")
WEB = {"deployment": "web", "namespace": "shop"}


@needs_kubectl
async def test_a_rollout_in_progress_reads_like_kubectl(kube_target, kube_config, tmp_path):
    result = await run_tool(kube_target, "rollout_status", WEB)
    assert result.exit_code == 0
    assert result.command == (
        "kubectl rollout status deployment/web -n shop --watch=false; kubectl describe deployment web -n shop"
    )
    verdict, _, rest = result.output.partition("\n\n")
    assert (
        verdict
        == 'Waiting for deployment "web" rollout to finish: 2 out of 3 new replicas have been updated...'
    )
    describe, _, images = rest.partition("\n\n")
    real = await kubectl(kube_config, tmp_path, "describe", "deployment", "web", "-n", "shop")
    assert describe + "\n" == without_sections(real, "Pod Template", "Events")
    rows = [line.split() for line in images.splitlines()[1:]]
    assert rows[1:] == [
        ["web-7c8f5d9b6", "6", "2", "0", "registry.example.com/shop/web:v2.3.9"],
        ["web-6f7d9c8b5", "5", "2", "0", "registry.example.com/shop/web:v2.3.8"],
        ["web-8d4c7b9f5", "4", "0", "0", "registry.example.com/shop/web:v2.3.7"],
    ]
    assert result.data["replicas"] == {"desired": 3, "updated": 2, "ready": 0, "available": 0}
    assert result.data["current_images"] == ["registry.example.com/shop/web:v2.3.9"]
    assert result.data["previous_images"] == ["registry.example.com/shop/web:v2.3.8"]
    assert not result.data["rolled_out"]


async def test_progress_deadline_exceeded_fails_like_kubectl(kube_target, kube_api):
    progressing = kube_api.state.deployments["shop"]["web"]["status"]["conditions"][1]
    progressing.update(
        status="False",
        reason="ProgressDeadlineExceeded",
        message='ReplicaSet "web-7c8f5d9b6" has timed out progressing.',
    )
    result = await run_tool(kube_target, "rollout_status", WEB)
    assert result.exit_code == 1
    assert result.output.startswith('error: deployment "web" exceeded its progress deadline\n')
    assert "  Progressing    False   ProgressDeadlineExceeded\n" in result.output
    assert {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}.items() <= (
        result.data["conditions"][1].items()
    )


async def test_a_finished_rollout_and_an_unobserved_spec(kube_target, kube_api):
    web = kube_api.state.deployments["shop"]["web"]
    web["status"].update(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)
    done = await run_tool(kube_target, "rollout_status", WEB)
    assert done.output.startswith('deployment "web" successfully rolled out\n') and done.data["rolled_out"]
    web["metadata"]["generation"] = web["status"]["observedGeneration"] + 1
    pending = await run_tool(kube_target, "rollout_status", WEB)
    assert pending.output.startswith("Waiting for deployment spec update to be observed...\n")


async def test_missing_deployment_is_kubectls_not_found(kube_target):
    result = await run_tool(kube_target, "rollout_status", {"deployment": "nope", "namespace": "shop"})
    assert result.exit_code == 1
    assert result.output == 'Error from server (NotFound): deployments.apps "nope" not found\n'


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "deployment"),
        ({"deployment": "Web_App"}, "deployment"),
        ({"deployment": "web", "namespace": "Shop!"}, "namespace"),
        ({"deployment": "web", "replicas": 3}, "replicas"),
    ],
)
def test_invalid_arguments_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        TOOLS["rollout_status"].validate_args(args)
