"""The deployment files agree with each other and with the code (what schema validation cannot see).

`.ci/deploy-lint.sh` lints the Dockerfile and validates the manifests against the Kubernetes and Compose
schemas; this checks the references between them: every FIRSTLINE_* variable is a real setting, every
Secret key the Deployment reads exists, probes hit the real routes on the real port, selectors select
the pod, the image's user is the one the pod requires, the image installs from the hashed locks.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from assistant.config import Settings

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
SERVE_ENV = {"FIRSTLINE_HOST", "FIRSTLINE_PORT"}  # `firstline serve`'s own options


def manifests() -> dict[str, dict]:
    docs = [d for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    return {d["kind"]: d for d in docs}


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def is_setting(name: str) -> bool:
    field = name.removeprefix("FIRSTLINE_").lower().split("__")[0]
    return name in SERVE_ENV or field in Settings.model_fields


def test_every_firstline_variable_in_the_deployment_files_is_a_real_setting():
    texts = [dockerfile(), (ROOT / "compose.yaml").read_text(), *(p.read_text() for p in K8S.glob("*.yaml"))]
    names = {n for text in texts for n in re.findall(r"\bFIRSTLINE_[A-Z_]+\b", text)}
    assert {"FIRSTLINE_AUTH_TOKEN", "FIRSTLINE_DATABASE_URL", "FIRSTLINE_LOG_FORMAT"} <= names
    assert sorted(n for n in names if not is_setting(n) and n != "FIRSTLINE_DB_PASSWORD") == []


def test_deployment_reads_only_secret_keys_that_exist_and_probes_real_routes(tmp_path):
    from fastapi.testclient import TestClient

    from web.app import create_app

    k8s = manifests()
    assert {"Deployment", "Service", "PodDisruptionBudget", "Secret"} <= set(k8s)
    deploy, secret = k8s["Deployment"], k8s["Secret"]
    assert deploy["spec"]["replicas"] >= 2
    pod = deploy["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    assert refs and all(
        r["name"] == secret["metadata"]["name"] and r["key"] in secret["stringData"] for r in refs
    )

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probes = {k: container[k]["httpGet"] for k in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes["livenessProbe"]["path"] == "/livez" and probes["readinessProbe"]["path"] == "/readyz"
    assert all(p["port"] in ports for p in probes.values())
    with TestClient(
        create_app(Settings(home=tmp_path, auth_token="a-token-probes-do-not-send")),
        base_url="http://localhost",
    ) as client:
        assert all(client.get(p["path"]).status_code == 200 for p in probes.values())  # open, and ready
    assert container["args"][container["args"].index("--port") + 1] == str(ports["http"])
    assert f"EXPOSE {ports['http']}" in dockerfile()


def test_service_and_budget_select_the_pods():
    k8s = manifests()
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert k8s["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert k8s["Service"]["spec"]["selector"].items() <= labels.items()
    assert k8s["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container_ports = {
        p["name"] for c in k8s["Deployment"]["spec"]["template"]["spec"]["containers"] for p in c["ports"]
    }
    assert all(p["targetPort"] in container_ports for p in k8s["Service"]["spec"]["ports"])


def test_pod_runs_as_the_images_non_root_user_on_a_read_only_root():
    spec = manifests()["Deployment"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile(), re.MULTILINE)
    assert user and spec["securityContext"]["runAsNonRoot"] is True
    assert (
        str(spec["securityContext"]["runAsUser"]),
        str(spec["securityContext"]["runAsGroup"]),
    ) == user.groups()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    home = re.search(r"FIRSTLINE_HOME=(\S+)", dockerfile())
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert home and {home.group(1), "/tmp"} <= mounts  # the only places it writes


def test_image_installs_from_the_hashed_locks_bootstrap_first_and_serves_on_all_interfaces():
    text = dockerfile()
    installs = re.findall(r"pip install ([^\n\\&]+)", text)
    assert "-r requirements-bootstrap.lock" in installs[0] and "-r requirements.lock" in installs[1]
    assert all("--require-hashes" in i for i in installs[:2])
    assert re.search(r'^CMD \["serve", "--host", "0.0.0.0"', text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*/livez", text, re.MULTILINE)
    keep = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    packages = {p.rstrip("*") for p in re.findall(r'"(\w+)\*"', (ROOT / "pyproject.toml").read_text())}
    copied = set(re.findall(r"^COPY (\w+) \./", text, re.MULTILINE))
    assert packages <= keep and packages <= copied  # every package of the wheel reaches the image


def test_compose_runs_firstline_against_its_postgres_with_a_required_token():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    app, db = compose["services"]["firstline"], compose["services"]["postgres"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy" and "healthcheck" in db
    assert "@postgres:5432/" in app["environment"]["FIRSTLINE_DATABASE_URL"]
    assert ":?" in app["environment"]["FIRSTLINE_AUTH_TOKEN"]  # compose refuses to start without one
