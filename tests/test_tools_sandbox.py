"""The sandbox target: every shipped scenario answers every read tool through the real runner,
its facts agree across tools, its fault is visible, and approved writes change only this session."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.catalog import TOOLS
from tools.runner import run_tool
from tools.scenarios import load_scenario_file
from tools.targets import TargetConfig, TargetError, open_target
from tools.targets.sandbox import SandboxFleet, SandboxTarget, list_scenarios

SCENARIOS = list_scenarios()
IDS = [s.id for s in SCENARIOS]
HOST_IDS = [s.id for s in SCENARIOS if s.host is not None] + [
    f"{s.id}@{h.hostname}" for s in SCENARIOS for h in s.hosts
]
"""One id per simulated host: `scenario@host` for each host of a multi-host scenario."""
REQUIRED = {
    "nginx-port-conflict",
    "postgres-max-connections",
    "image-tag-missing",
    "configmap-wrong-host",
    "oom-killed",
    "disk-full",
    "tls-expired",
}
READ_TOOLS = sorted(name for name, tool in TOOLS.items() if tool.risk.value == "read")
# What a real command prints when the object is missing or unhealthy: the only non-zero exits allowed.
REALISTIC_FAILURE = re.compile(
    r"could not be found|not found: 3\(NXDOMAIN\)|^curl: \(\d+\)|Error from server \((NotFound|BadRequest)\)|"
    r"cannot open .* No such file|^df: .*No such file|Active: (failed|inactive)|# no process is|^error=connect",
    re.MULTILINE,
)


def sandbox(sid: str) -> SandboxTarget | SandboxFleet:
    """The scenario's target; `scenario@host` is that host of a multi-host scenario."""
    sid, _, host = sid.partition("@")
    target = open_target(f"sandbox:{sid}")
    if host:
        assert isinstance(target, SandboxFleet)
        target = target.members[host]
    assert isinstance(target, (SandboxTarget, SandboxFleet))
    return target


async def call(target, tool: str, approved: bool = False, **args):
    return await run_tool(target, tool, args, approved=approved)


def read_calls(target: SandboxTarget) -> list[tuple[str, dict]]:
    """Every read call the scenario's own facts suggest, plus one unknown object per tool."""
    sc, calls = target.scenario, []
    if sc.host is not None:
        h = sc.host
        calls += [("service_status", {"service": s.name}) for s in h.services] + [
            ("service_status", {"service": "nope"})
        ]
        calls += [
            ("log_tail", {"source": f.path, "lines": 20}) for f in h.files if f.path.startswith("/var/log/")
        ]
        calls += [("log_tail", {"source": f"unit:{s.name}"}) for s in h.services]
        calls += [("port_owner", {"port": s.local_port, "protocol": s.protocol}) for s in h.sockets]
        calls += [("port_owner", {"port": 1})]
        calls += [("process_list", {}), ("process_list", {"match": "zzz-none"}), ("host_resources", {})]
        calls += [("disk_usage", {"path": f.mounted_on}) for f in h.filesystems] + [
            ("disk_usage", {"path": "/nope/x"})
        ]
        calls += [("log_tail", {"source": "/var/log/missing.log"})]
        calls += [("open_files", {"pid": p.pid}) for p in h.processes] + [
            ("open_files", {"process": "zzz-none"}),
            ("open_files", {"pid": 4_000_000}),
        ]
    for ns in sc.namespaces:
        calls += [("list_pods", {"namespace": ns.name}), ("k8s_events", {"namespace": ns.name})]
        calls += [("node_status", {}), ("list_pods", {"all_namespaces": True})]
        calls += [
            ("rollout_status", {"namespace": ns.name, "deployment": d["metadata"]["name"]})
            for d in ns.deployments
        ]
        calls += [("rollout_status", {"namespace": ns.name, "deployment": "nope"})]
        for pod in ns.pods:
            name = pod["metadata"]["name"]
            calls += [
                ("pod_describe", {"namespace": ns.name, "pod": name}),
                ("pod_logs", {"namespace": ns.name, "pod": name}),
                ("pod_logs", {"namespace": ns.name, "pod": name, "previous": True}),
                ("log_tail", {"source": f"pod:{ns.name}/{name}"}),
                ("k8s_events", {"namespace": ns.name, "involved_object": name}),
            ]
        calls += [
            ("pod_describe", {"namespace": ns.name, "pod": "nope-0"}),
            ("list_pods", {"namespace": "empty"}),
        ]
    calls += [("dns_lookup", {"name": name}) for name in sc.dns.records] + [
        ("dns_lookup", {"name": "nope.invalid"})
    ]
    calls += [("http_check", {"url": e.url}) for e in sc.http] + [
        ("http_check", {"url": "http://nope.invalid/"})
    ]
    calls += [("tls_certificate", {"host": c.host, "port": c.port}) for c in sc.tls]
    return calls


def test_required_scenarios_ship_with_titles_and_summaries():
    assert REQUIRED <= set(IDS)
    for s in SCENARIOS:
        assert s.title and s.summary and s.root_cause and s.evidence, s.id


@pytest.mark.parametrize("sid", [s.id for s in SCENARIOS if not s.hosts] + [i for i in HOST_IDS if "@" in i])
async def test_every_read_tool_answers_realistically(sid):
    target = sandbox(sid)
    calls = read_calls(target)
    assert {tool for tool, _ in calls} >= (
        {"dns_lookup", "http_check"}
        | ({"service_status", "port_owner"} if target.host else {"pod_describe", "list_pods"})
    )
    for tool, args in calls:
        result = await call(target, tool, **args)
        assert result.error is None, (tool, args, result.error)
        empty_file = tool == "log_tail" and target.host is not None and target.host.file(args["source"]) == ""
        assert (result.output.strip() or empty_file) and result.source == "sandbox" and result.command, (
            tool,
            args,
        )
        if result.exit_code != 0:
            assert REALISTIC_FAILURE.search(result.output), (tool, args, result.output[:300])
    samples = {
        "service_status": {"service": "nginx"},
        "port_owner": {"port": 80},
        "disk_usage": {},
        "process_list": {},
        "host_resources": {},
        "pod_describe": {"pod": "web-0"},
        "pod_logs": {"pod": "web-0"},
        "list_pods": {},
        "k8s_events": {},
        "open_files": {"process": "nginx"},
        "node_status": {},
        "rollout_status": {"deployment": "web"},
    }
    for name in READ_TOOLS:  # tools a scenario cannot answer are refused up front, not crashed
        if not target.supports(name):
            result = await call(target, name, **samples[name])
            assert result.error and "not available" in result.error


@pytest.mark.parametrize("sid", IDS)
async def test_the_fault_is_visible_in_the_named_evidence(sid):
    target = sandbox(sid)
    for ev in target.scenario.evidence:
        result = await call(target, ev.tool, **ev.args)
        assert result.error is None, (ev.tool, result.error)
        for needle in ev.contains:
            assert needle in result.output, (ev.tool, ev.args, needle, result.output[:2000])


@pytest.mark.parametrize("sid", HOST_IDS)
async def test_port_owners_and_service_pids_agree_with_ps(sid):
    target = sandbox(sid)
    ps = (await call(target, "process_list")).output
    ps_rows = {int(line.split()[1]): line for line in ps.splitlines()[1:]}
    for port in sorted({s.local_port for s in target.scenario.host.sockets if s.protocol == "tcp"}):
        out = (await call(target, "port_owner", port=port)).output
        pids = [int(p) for p in re.findall(r"pid=(\d+)", out)]
        assert pids, out
        for pid in pids:
            assert pid in ps_rows, (port, pid)
        owner_cmd = (
            out.split("CMD\n", 1)[1].splitlines()[0].split(None, 7)[-1]
        )  # PID USER <lstart: 5 words> CMD
        assert owner_cmd in ps_rows[pids[0]], (owner_cmd, ps_rows[pids[0]])
    for svc in target.scenario.host.services:
        status = (await call(target, "service_status", service=svc.name)).output
        main = re.search(r"Main PID: (\d+)", status)
        if main:
            assert int(main.group(1)) in ps_rows
        for pid in re.findall(r"[├└]─(\d+) ", status):
            assert int(pid) in ps_rows, (svc.name, pid)


@pytest.mark.parametrize("sid", [s.id for s in SCENARIOS if s.namespaces])
async def test_pod_list_and_describe_agree(sid):
    target = sandbox(sid)
    for ns in target.scenario.namespaces:
        table = (await call(target, "list_pods", namespace=ns.name)).output.splitlines()[1:]
        assert len(table) == len(ns.pods)
        for row in table:
            name, _ready, status, restarts = row.split()[:4]
            desc = (await call(target, "pod_describe", namespace=ns.name, pod=name)).output
            counts = [int(n) for n in re.findall(r"Restart Count:\s+(\d+)", desc)]
            assert sum(counts) == int(restarts), (name, counts, restarts)
            if status not in ("Running", "Completed"):
                assert re.search(rf"Reason:\s+{status}", desc), (name, status)


async def test_dns_names_in_crash_logs_match_dns_lookup():
    target = sandbox("configmap-wrong-host")
    logs = (
        await call(target, "pod_logs", namespace="orders", pod="orders-api-6d8b7c5f9-x2v7n", previous=True)
    ).output
    missing = set(re.findall(r"ENOTFOUND ([a-z0-9.-]+)", logs))
    assert missing == {"orders-db.prod.svc.cluster.local"}
    for name in missing:
        r = await call(target, "dns_lookup", name=name)
        assert r.exit_code == 1 and "NXDOMAIN" in r.output
    good = await call(target, "dns_lookup", name="orders-db.orders.svc.cluster.local")
    assert good.exit_code == 0 and "has address" in good.output
    healthy = (await call(target, "pod_logs", namespace="orders", pod="orders-api-7c9d8f6b5-4kq2x")).output
    assert "orders-db.orders.svc.cluster.local" in healthy


async def test_leaked_backends_match_the_export_failures():
    target = sandbox("postgres-max-connections")
    backends = (await call(target, "process_list", match="idle in transaction")).output.splitlines()[1:]
    app = (
        await call(target, "log_tail", source="/var/log/orders-api/app.log", lines=2000, grep="export failed")
    ).output
    assert len(backends) == len(app.splitlines()) == 88


async def test_log_tail_respects_lines_grep_and_roots():
    target = sandbox("nginx-port-conflict")
    last = await call(target, "log_tail", source="/var/log/nginx/error.log", lines=3)
    assert len(last.output.splitlines()) == 3 and "still could not bind()" in last.output.splitlines()[-1]
    warn = await call(target, "log_tail", source="/var/log/nginx/error.log", lines=500, grep=r"\[warn\]")
    assert (
        warn.output.splitlines() == [ln for ln in warn.output.splitlines() if "[warn]" in ln] and warn.output
    )
    journal = await call(target, "log_tail", source="unit:nginx", lines=5)
    assert len(journal.output.splitlines()) == 5 and "Failed to start nginx.service" in journal.output
    assert "-- No entries --" in (await call(target, "log_tail", source="unit:nope")).output
    bad_regex = await call(target, "log_tail", source="/var/log/syslog", grep="(unclosed")
    assert bad_regex.error and "regular expression" in bad_regex.error
    for path in ("/var/log/../../etc/shadow", "/etc/passwd", "relative.log"):
        refused = await call(target, "log_tail", source=path)
        assert refused.exit_code is None and "outside the allowed log roots" in refused.error
    pod_src = await call(
        sandbox("oom-killed"), "log_tail", source="pod:payments/payments-api-5c8d7f9b6-kx9tb", lines=2
    )
    assert len(pod_src.output.splitlines()) == 2


async def test_unknown_objects_fail_like_the_real_tools():
    host, k8s = sandbox("nginx-port-conflict"), sandbox("image-tag-missing")
    unit = await call(host, "service_status", service="foo")
    assert unit.exit_code == 4 and unit.output == "Unit foo.service could not be found.\n"
    pod = await call(k8s, "pod_describe", namespace="shop", pod="web-x")
    assert pod.exit_code == 1 and pod.output == 'Error from server (NotFound): pods "web-x" not found\n'
    assert (
        "Host nope.example.org not found: 3(NXDOMAIN)"
        in (await call(host, "dns_lookup", name="nope.example.org")).output
    )
    assert (
        await call(host, "kill_process", approved=True, pid=99999)
    ).output == "kill: (99999) - No such process\n"
    undo = await call(k8s, "rollout_undo", approved=True, deployment="cart", namespace="shop")
    assert undo.exit_code == 1 and "no rollout history" in undo.output


async def test_writes_need_approval_and_fix_nginx_in_this_session_only():
    target = sandbox("nginx-port-conflict")
    refused = await call(target, "kill_process", pid=2314)
    assert refused.error and "approval" in refused.error and refused.exit_code is None
    assert "node /opt/old-app/server.js" in (await call(target, "port_owner", port=80)).output

    early = await call(target, "restart_service", approved=True, service="nginx")
    assert early.exit_code == 1 and "Job for nginx.service failed" in early.output
    assert "Active: failed" in (await call(target, "service_status", service="nginx")).output

    killed = await call(target, "kill_process", approved=True, pid=2314)
    assert killed.ok and "2314" not in (await call(target, "process_list", match="old-app")).output
    assert (await call(target, "port_owner", port=80)).exit_code == 1
    restarted = await call(target, "restart_service", approved=True, service="nginx")
    assert restarted.ok, restarted.output
    status = (await call(target, "service_status", service="nginx")).output
    assert "Active: active (running)" in status
    main = int(re.search(r"Main PID: (\d+)", status).group(1))
    assert f'("nginx",pid={main},' in (await call(target, "port_owner", port=80)).output
    assert "HTTP/1.1 200 OK" in (await call(target, "http_check", url="http://web-prod-01/healthz")).output

    fresh = sandbox("nginx-port-conflict")  # another session, and the file on disk, are untouched
    assert "node /opt/old-app/server.js" in (await call(fresh, "port_owner", port=80)).output
    on_disk = load_scenario_file(Path(target.scenario.source_path))
    assert any(p.pid == 2314 for p in on_disk.host.processes)


async def test_simulated_fixes_for_the_other_scenarios():
    tls = sandbox("tls-expired")
    assert (await call(tls, "restart_service", approved=True, service="nginx")).ok
    assert "status=OK" in (await call(tls, "tls_certificate", host="api.example.com")).output
    assert "200 OK" in (await call(tls, "http_check", url="https://api.example.com/v1/health")).output

    pg = sandbox("postgres-max-connections")
    assert (await call(pg, "restart_service", approved=True, service="orders-api")).ok
    assert len((await call(pg, "process_list", match="idle in transaction")).output.splitlines()) == 1
    assert "200 OK" in (await call(pg, "http_check", url="http://127.0.0.1:8000/healthz")).output
    assert "gunicorn" in (await call(pg, "port_owner", port=8000)).output

    img = sandbox("image-tag-missing")
    assert (await call(img, "rollout_undo", approved=True, deployment="web", namespace="shop")).output == (
        "deployment.apps/web rolled back\n"
    )
    pods = (await call(img, "list_pods", namespace="shop", selector="app=web")).output
    assert "ImagePull" not in pods and pods.count("Running") == 4

    oom = sandbox("oom-killed")
    assert (
        await call(oom, "rollout_restart", approved=True, deployment="payments-api", namespace="payments")
    ).ok
    assert (
        "CrashLoopBackOff" in (await call(oom, "list_pods", namespace="payments")).output
    )  # same 256Mi template
    assert (
        await call(oom, "rollout_undo", approved=True, deployment="payments-api", namespace="payments")
    ).ok
    after = (await call(oom, "list_pods", namespace="payments", selector="app=payments-api")).output
    assert "CrashLoopBackOff" not in after and after.count("Running") == 3

    probe = sandbox("readiness-probe-failing")  # Recreate strategy: undo rebuilds ready pods from revision 21
    assert (
        await call(probe, "rollout_undo", approved=True, deployment="catalog-api", namespace="catalog")
    ).ok
    ready = (await call(probe, "list_pods", namespace="catalog", selector="app=catalog-api")).output
    assert ready.count("1/1") == 3 and "0/1" not in ready

    cm = sandbox("configmap-wrong-host")  # the fault is in the ConfigMap: undo does not fix it
    assert (await call(cm, "rollout_undo", approved=True, deployment="orders-api", namespace="orders")).ok
    assert (
        "CrashLoopBackOff"
        in (await call(cm, "list_pods", namespace="orders", selector="app=orders-api")).output
    )


async def test_unknown_or_invalid_scenario_ids_list_the_available_ones():
    for bad in ("no-such-scenario", "Bad_ID", "../etc", ""):
        with pytest.raises(TargetError) as err:
            open_target(f"sandbox:{bad}")
        assert "available: " in str(err.value)
        assert all(sid in str(err.value) for sid in REQUIRED)


def test_extra_scenarios_dir_adds_and_validates(tmp_path):
    (tmp_path / "tiny-dns.yaml").write_text(
        "id: tiny-dns\ntitle: Tiny\nkind: host\nsummary: one host\nroot_cause: none\nnow: 2026-01-01T00:00:00Z\n"
        "host: {hostname: tiny-01, resources: {uptime_s: 60}}\n"
        "dns: {records: {db.internal: {addresses: [10.0.0.5]}}}\n",
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("id: broken\nkind: nonsense\n", encoding="utf-8")
    config = TargetConfig(scenarios_dir=tmp_path)
    ids = [s.id for s in list_scenarios(config)]
    assert "tiny-dns" in ids and "broken" not in ids and REQUIRED <= set(ids)
    assert open_target("sandbox:tiny-dns", config).describe()["hosts"] == ["tiny-01"]
    with pytest.raises(TargetError, match="kind"):
        open_target("sandbox:broken", config)


@pytest.mark.parametrize("sid", IDS)
def test_describe_names_hosts_and_namespaces_but_never_the_root_cause(sid):
    target = sandbox(sid)
    info = target.describe()
    assert info["kind"] == "sandbox" and info["scenario"] == sid and info["title"]
    assert info["hosts"] or info["namespaces"]
    assert "root_cause" not in info and target.scenario.root_cause not in repr(info)
