"""The kubernetes target against a recorded-API server, checked against the real kubectl.

tests/k8s_api.py serves recorded v1 JSON on 127.0.0.1; the same server answers both
our target (through `run_tool`) and `/usr/bin/kubectl`, so each kubectl comparison is
two clients reading one cluster.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
from asyncio.subprocess import PIPE
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from k8s_api import FIXTURES, KubeApiServer, write_kubeconfig

from tools.render_k8s import pod_status, render_pod_list
from tools.runner import run_tool
from tools.targets import TargetConfig, TargetError, list_targets, open_target
from tools.targets.kubernetes import KubernetesTarget, kube_contexts

KUBECTL = Path("/usr/bin/kubectl")
needs_kubectl = pytest.mark.skipif(not KUBECTL.exists(), reason="/usr/bin/kubectl is not installed")
SHOP = FIXTURES / "namespaces" / "shop"
POD_NAMES = sorted(p.stem for p in (SHOP / "pods").glob("*.json"))
CRASH, PULL, ERRPULL, OOM = (
    "web-6f7d9c8b5-k2x9q",
    "web-7c8f5d9b6-p4m2z",
    "web-7c8f5d9b6-w8n5t",
    "worker-5b6c7d8f9-7hjkl",
)
_AGE = re.compile(r"\b\d+(?:y\d+d|d\d+h|h\d+m|m\d+s|[smhdy])\b")


def fixture_pod(name: str) -> dict:
    return json.loads((SHOP / "pods" / f"{name}.json").read_text())


@pytest.fixture
def api():
    with KubeApiServer(forbidden_namespaces={"kube-system"}) as server:
        yield server


@pytest.fixture
def kubeconfig(api, tmp_path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", api.url, context="fixture", extra_contexts=("staging",))


@pytest.fixture
async def target(kubeconfig):
    t = open_target("kubernetes:fixture", TargetConfig(kubeconfig=kubeconfig))
    yield t
    await t.aclose()


@dataclass
class Proc:
    returncode: int
    stdout: str
    stderr: str


async def run_kubectl(kubeconfig: Path, home: Path, *args: str) -> Proc:
    """The real kubectl (argv list, no shell) with TZ=UTC like our renderers and a private cache dir."""
    argv = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "kcache"), *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=PIPE, stderr=PIPE, env={"PATH": "/usr/bin:/bin", "HOME": str(home), "TZ": "UTC"}
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return Proc(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def kubectl(kubeconfig, tmp_path):
    """kubectl against the same server as `target`."""
    return partial(run_kubectl, kubeconfig, tmp_path)


def describe_facts(text: str) -> dict:
    """The facts an engineer reads off `kubectl describe pod` text (ours or kubectl's)."""
    facts: dict = {"status": None, "containers": {}, "events": []}
    container, which, section = None, None, ""
    for line in text.splitlines():
        if m := re.match(r"^Status:\s+(.*)$", line):
            facts["status"] = m.group(1).strip()
        if m := re.match(r"^(\S[^:]*):", line):
            section, container = m.group(1), None
        if section == "Events" and (
            m := re.match(r"^  (Normal|Warning)\s+(\S+)\s+.*?\s{2,}(\S+)\s{2,}(.*)$", line)
        ):
            facts["events"].append((m.group(1), m.group(2), m.group(4)))
        elif section in ("Containers", "Init Containers") and (m := re.match(r"^  ([a-z0-9-]+):$", line)):
            container = facts["containers"].setdefault(m.group(1), {})
        elif container is not None and (m := re.match(r"^    (State|Last State):\s+(\w+)$", line)):
            which = "state" if m.group(1) == "State" else "last"
            container[which] = m.group(2)
        elif container is not None and which and (m := re.match(r"^      (Reason|Exit Code):\s+(.*)$", line)):
            container[f"{which}_{m.group(1).lower().replace(' ', '_')}"] = m.group(2).strip()
        elif container is not None and (m := re.match(r"^    Restart Count:\s+(\d+)$", line)):
            container["restarts"] = int(m.group(1))
    return facts


# ---------------------------------------------------------------- pod_describe


async def test_pod_describe_reports_the_recorded_container_facts(target):
    for name in (CRASH, OOM, PULL):
        result = await run_tool(target, "pod_describe", {"pod": name, "namespace": "shop"})
        assert result.ok and result.exit_code == 0, result
        assert result.command == f"kubectl describe pod {name} -n shop"
        recorded = fixture_pod(name)["status"]["containerStatuses"][0]
        state_kind, state = next(iter(recorded["state"].items()))
        got = describe_facts(result.output)["containers"][recorded["name"]]
        assert got["state"] == state_kind.capitalize() and got["state_reason"] == state["reason"]
        assert got["restarts"] == recorded["restartCount"] == result.data["restarts"]
        last = recorded["lastState"].get("terminated")
        if last:
            assert (got["last"], got["last_reason"], int(got["last_exit_code"])) == (
                "Terminated",
                last["reason"],
                last["exitCode"],
            )
            facts = result.data["containers"][0]
            assert (facts["last_reason"], facts["last_exit_code"]) == (last["reason"], last["exitCode"])

    crash = await run_tool(target, "pod_describe", {"pod": CRASH, "namespace": "shop"})
    c = describe_facts(crash.output)["containers"]["web"]
    assert (c["state_reason"], c["last_reason"], c["last_exit_code"], c["restarts"]) == (
        "CrashLoopBackOff",
        "Error",
        "1",
        7,
    )
    assert "BackOff" in {reason for _, reason, _ in describe_facts(crash.output)["events"]}
    oom = await run_tool(target, "pod_describe", {"pod": OOM, "namespace": "shop"})
    assert (oom.data["containers"][0]["last_reason"], oom.data["containers"][0]["last_exit_code"]) == (
        "OOMKilled",
        137,
    )
    assert oom.data["containers"][0]["limits"]["memory"] == "256Mi"
    pull = await run_tool(target, "pod_describe", {"pod": PULL, "namespace": "shop"})
    messages = [msg for _, reason, msg in describe_facts(pull.output)["events"] if reason == "Failed"]
    assert any(
        m.startswith('Failed to pull image "registry.example.com/shop/web:v2.3.9"')
        and m.endswith("not found")
        for m in messages
    )


@needs_kubectl
async def test_pod_describe_matches_real_kubectl_for_every_recorded_pod(target, kubectl):
    for name in POD_NAMES:
        ours = await run_tool(target, "pod_describe", {"pod": name, "namespace": "shop"})
        real = await kubectl("describe", "pod", name, "-n", "shop")
        assert real.returncode == 0, real.stderr
        assert describe_facts(ours.output) == describe_facts(real.stdout)
        if fixture_pod(name)["status"].get("containerStatuses"):
            assert all("state" in c for c in describe_facts(ours.output)["containers"].values()), name
        # Beyond the facts: the whole text is kubectl's, up to the ages (both clocks are "now").
        assert _AGE.sub("<age>", ours.output) == _AGE.sub("<age>", real.stdout), name


@needs_kubectl
async def test_missing_pod_and_forbidden_namespace_read_like_kubectl(target, kubectl):
    missing = await run_tool(target, "pod_describe", {"pod": "web-0000000000-zzzzz", "namespace": "shop"})
    real = await kubectl("describe", "pod", "web-0000000000-zzzzz", "-n", "shop")
    assert (missing.ok, missing.exit_code) == (False, 1) and real.returncode == 1
    assert (
        missing.output.strip()
        == real.stderr.strip()
        == 'Error from server (NotFound): pods "web-0000000000-zzzzz" not found'
    )
    forbidden = await run_tool(target, "list_pods", {"namespace": "kube-system"})
    real = await kubectl("get", "pods", "-n", "kube-system")
    assert forbidden.exit_code == 1 and forbidden.output.startswith(
        "Error from server (Forbidden): pods is forbidden"
    )
    assert forbidden.output.strip() == real.stderr.strip()


async def test_unreachable_api_server_is_an_error_result_not_an_exception(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = write_kubeconfig(tmp_path / "closed", f"http://127.0.0.1:{port}")
    target = KubernetesTarget.from_kubeconfig(None, TargetConfig(kubeconfig=kc))
    result = await run_tool(target, "pod_describe", {"pod": CRASH, "namespace": "shop"})
    assert (result.ok, result.exit_code) == (False, 1)
    assert result.output.strip() == (
        f"The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?"
    )
    assert target.describe()["server"] == f"http://127.0.0.1:{port}" and "namespaces" not in target.describe()
    if KUBECTL.exists():
        real = await run_kubectl(kc, tmp_path, "get", "pods")
        assert real.stderr.strip().splitlines()[-1] == result.output.strip()


# ---------------------------------------------------------------- list_pods, logs, events


async def test_list_pods_status_column_and_selector(target, api):
    result = await run_tool(target, "list_pods", {"namespace": "shop"})
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    status = {r[0]: r[2] for r in rows[1:]}
    assert status == {
        "api-5c9f7d8b6-8xk2m": "Running",
        "report-28561740-vx8kq": "Completed",
        "search-7f6d5c4b3-q9w8e": "Pending",
        CRASH: "CrashLoopBackOff",
        "web-6f7d9c8b5-zt5wd": "Evicted",
        PULL: "ImagePullBackOff",
        ERRPULL: "ErrImagePull",
        OOM: "OOMKilled",
    }
    restarts = {r[0]: " ".join(r[3:-1]) for r in rows[1:]}
    assert re.fullmatch(r"7 \(\S+ ago\)", restarts[CRASH]) and restarts["api-5c9f7d8b6-8xk2m"] == "0"
    assert {p["name"]: p["status"] for p in result.data["pods"]} == status
    web = await run_tool(target, "list_pods", {"namespace": "shop", "selector": "app=web"})
    assert web.command == "kubectl get pods -n shop -l app=web"
    assert [line.split()[0] for line in web.output.splitlines()[1:]] == sorted(
        n for n in status if n.startswith("web-")
    )
    assert any("labelSelector=app%3Dweb" in path for _, path in api.requests)


def test_pod_status_terminating_init_and_empty_list():
    now = datetime(2025, 3, 14, 9, 42, tzinfo=UTC)
    pod = fixture_pod("api-5c9f7d8b6-8xk2m")
    pod["metadata"]["deletionTimestamp"] = (now + timedelta(seconds=30)).isoformat()
    assert pod_status(pod)[0] == "Terminating"
    init = fixture_pod("api-5c9f7d8b6-8xk2m")
    init["spec"]["initContainers"] = [{"name": "migrate", "image": "registry.example.com/shop/api:v1.14.2"}]
    init["status"]["initContainerStatuses"] = [
        {
            "name": "migrate",
            "state": {"waiting": {"reason": "PodInitializing"}},
            "ready": False,
            "restartCount": 0,
        }
    ]
    init["status"]["conditions"] = [c for c in init["status"]["conditions"] if c["type"] != "Initialized"]
    assert pod_status(init)[0] == "Init:0/1"
    assert render_pod_list([], now, "shop") == "No resources found in shop namespace.\n"


@needs_kubectl
async def test_pod_logs_previous_and_current_match_kubectl(target, kubectl):
    prev = await run_tool(target, "pod_logs", {"pod": OOM, "namespace": "shop", "previous": True, "tail": 3})
    cur = await run_tool(target, "pod_logs", {"pod": OOM, "namespace": "shop", "tail": 3})
    assert prev.command == f"kubectl logs {OOM} -n shop -c worker --previous --tail=3"
    status = fixture_pod(OOM)["status"]["containerStatuses"][0]
    for result, cid in (
        (prev, status["lastState"]["terminated"]["containerID"]),
        (cur, status["containerID"]),
    ):
        recorded = (SHOP / "logs" / f"{cid.partition('://')[2]}.log").read_text().splitlines(keepends=True)
        assert result.ok and result.output == "".join(recorded[-3:])
    assert prev.output != cur.output
    assert prev.output == (await kubectl("logs", OOM, "-n", "shop", "--previous", "--tail=3")).stdout
    waiting = await run_tool(target, "pod_logs", {"pod": PULL, "namespace": "shop"})
    real = await kubectl("logs", PULL, "-n", "shop")
    assert waiting.exit_code == 1 and waiting.output.strip() == real.stderr.strip()
    assert "is waiting to start: trying and failing to pull image" in waiting.output


@needs_kubectl
async def test_k8s_events_filter_and_kubectl_events(target, kubectl, api):
    result = await run_tool(target, "k8s_events", {"namespace": "shop", "involved_object": PULL})
    assert result.ok and result.command == f"kubectl events -n shop --for pod/{PULL}"
    assert {e["object"] for e in result.data["events"]} == {f"Pod/{PULL}"}
    assert any(f"fieldSelector=involvedObject.name%3D{PULL}" in path for _, path in api.requests)
    real = await kubectl("events", "-n", "shop", "--for", f"pod/{PULL}")
    # kubectl's sort is not stable, so events with the same time may come in another order.
    assert sorted(_AGE.sub("<age>", result.output).splitlines()) == sorted(
        _AGE.sub("<age>", real.stdout).splitlines()
    )
    everything = await run_tool(target, "k8s_events", {"namespace": "shop"})
    real_all = await kubectl("events", "-n", "shop")
    assert sorted(_AGE.sub("<age>", everything.output).splitlines()) == sorted(
        _AGE.sub("<age>", real_all.stdout).splitlines()
    )


async def test_log_tail_reads_pod_sources(target):
    grep = await run_tool(
        target, "log_tail", {"source": f"pod:shop/{CRASH}/web", "grep": "fatal|refused", "lines": 50}
    )
    assert (
        grep.ok and grep.output and all(re.search("fatal|refused", line) for line in grep.output.splitlines())
    )
    assert grep.command.endswith("| grep -E 'fatal|refused'")
    for bad in ("/var/log/syslog", "pod:shop", "pod:Shop/x", f"pod:shop/{CRASH}/web/extra"):
        result = await run_tool(target, "log_tail", {"source": bad})
        assert not result.ok and result.error and "log_tail" in result.error
    badre = await run_tool(target, "log_tail", {"source": f"pod:shop/{CRASH}", "grep": "("})
    assert not badre.ok and "regular expression" in badre.error


# ---------------------------------------------------------------- writes


async def test_write_tools_need_approval(target, api):
    result = await run_tool(target, "rollout_restart", {"deployment": "web", "namespace": "shop"})
    assert not result.ok and "approval" in result.error
    assert not any(method == "PATCH" for method, _ in api.requests)


@needs_kubectl
async def test_rollout_restart_and_undo_send_what_kubectl_sends(target, api, tmp_path):
    restart = await run_tool(
        target, "rollout_restart", {"deployment": "web", "namespace": "shop"}, approved=True
    )
    undo = await run_tool(target, "rollout_undo", {"deployment": "web", "namespace": "shop"}, approved=True)
    assert (restart.output, undo.output) == (
        "deployment.apps/web restarted\n",
        "deployment.apps/web rolled back\n",
    )
    assert (
        undo.data["images_after"] == ["registry.example.com/shop/web:v2.3.8"]
        and undo.data["to_revision"] == 5
    )
    web = api.state.deployments["shop"]["web"]
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/shop/web:v2.3.8"
    ours = list(api.patches)
    with KubeApiServer() as other:
        kc = write_kubeconfig(tmp_path / "other", other.url)
        for verb in ("restart", "undo"):
            assert (
                await run_kubectl(kc, tmp_path, "rollout", verb, "deployment/web", "-n", "shop")
            ).returncode == 0
        theirs = list(other.patches)
    stamp = "kubectl.kubernetes.io/restartedAt"
    for (_, ours_patch), (_, their_patch) in [(ours[0], theirs[0])]:
        assert set(ours_patch["spec"]["template"]["metadata"]["annotations"]) == {stamp}
        assert ours_patch.keys() == their_patch.keys()
    assert [c for c, _ in ours] == [c for c, _ in theirs]
    assert ours[1][1] == theirs[1][1]  # the JSON patch restoring revision 5 is byte-for-byte kubectl's


async def test_rollout_undo_without_history(target, api):
    api.state.replicasets["shop"].clear()
    result = await run_tool(target, "rollout_undo", {"deployment": "web", "namespace": "shop"}, approved=True)
    assert (
        result.exit_code == 1
        and result.output.strip() == 'error: no rollout history found for deployment "web"'
    )
    missing = await run_tool(
        target, "rollout_restart", {"deployment": "nope", "namespace": "shop"}, approved=True
    )
    assert missing.output.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'


# ---------------------------------------------------------------- contexts and describe()


def test_kube_contexts_and_opening_targets(kubeconfig, tmp_path, monkeypatch):
    config = TargetConfig(kubeconfig=kubeconfig)
    assert kube_contexts(config) == ["fixture", "staging"]
    assert [t["name"] for t in list_targets(config) if t["kind"] == "kubernetes"] == [
        "kubernetes:fixture",
        "kubernetes:staging",
    ]
    assert open_target("kubernetes:staging", config).name == "kubernetes:staging"
    assert open_target("kubernetes", config).name == "kubernetes:fixture"
    with pytest.raises(TargetError, match="'nope' not found"):
        open_target("kubernetes:nope", config)
    assert kube_contexts(TargetConfig(kubeconfig=tmp_path / "missing")) == []
    (tmp_path / "garbage").write_text("::: not yaml [")
    assert kube_contexts(TargetConfig(kubeconfig=tmp_path / "garbage")) == []
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert kube_contexts(TargetConfig()) == ["fixture", "staging"]
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kube_contexts(TargetConfig()) == []
    with pytest.raises(TargetError):
        KubernetesTarget.from_kubeconfig(None, TargetConfig())


async def test_describe_names_context_server_and_namespaces(target, api):
    info = target.describe()
    assert info["context"] == "fixture" and info["server"] == api.url
    assert "shop" in info["namespaces"] and target.supports("pod_logs") and not target.supports("disk_usage")


async def test_list_pods_across_all_namespaces_has_a_namespace_column(target, api):
    result = await run_tool(target, "list_pods", {"all_namespaces": True})
    assert result.command == "kubectl get pods -A" and result.exit_code == 0
    rows = [line.split() for line in result.output.splitlines()]
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [(r[0], r[1]) for r in rows[1:]] == [("payments", "ledger-6d8f9c7b5-r2t4v")] + [
        ("shop", name) for name in POD_NAMES
    ]
    assert {p["namespace"] for p in result.data["pods"]} == {"payments", "shop"}
    assert result.data["namespace"] is None
    assert any(path.startswith("/api/v1/pods?") for _, path in api.requests)
    web = await run_tool(target, "list_pods", {"all_namespaces": True, "selector": "app=web"})
    assert web.command == "kubectl get pods -A -l app=web"
    assert {line.split()[0] for line in web.output.splitlines()[1:]} == {"shop"}
    none = await run_tool(target, "list_pods", {"all_namespaces": True, "selector": "app=none"})
    assert none.output == "No resources found\n"


def test_list_pods_refuses_a_namespace_with_all_namespaces():
    from tools.catalog import TOOLS

    with pytest.raises(ValueError, match="not both"):
        TOOLS["list_pods"].validate_args({"namespace": "shop", "all_namespaces": True})
    with pytest.raises(ValueError, match="all_namespaces"):
        TOOLS["list_pods"].validate_args({"all_namespaces": "everywhere"})
    assert TOOLS["list_pods"].validate_args({}).all_namespaces is False
