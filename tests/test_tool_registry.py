"""One object per tool: every tool is declared with a command and the handlers its scopes imply, and every
list of tools is derived from the declarations (and equals what used to be written by hand)."""

from __future__ import annotations

import pytest

import tools.targets.kubernetes
import tools.targets.local
import tools.targets.sandbox
import tools.targets.ssh  # noqa: F401 - importing a target module registers its handlers
from tools import catalog
from tools.base import RawOutput, Risk, Scope, Tool, ToolArgs
from tools.catalog import ALL_TOOLS, TOOLS
from tools.commands import command_line
from tools.targets import open_target

KINDS_BY_SCOPE = {
    Scope.HOST: {"local", "sandbox"},
    Scope.NETWORK: {"local", "sandbox"},
    Scope.KUBERNETES: {"kubernetes", "sandbox"},
}
"""The target kinds each scope needs a handler on (ssh offers the host tools it can run remotely)."""
OPTIONAL_KINDS = {"ssh"}

SAMPLES = {
    "service_status": ({"service": "nginx"}, "systemctl status nginx"),
    "log_tail": (
        {"source": "pod:shop/web-0/app", "lines": 20, "grep": "a b"},
        "kubectl logs web-0 -n shop -c app --tail=20 | grep -E 'a b'",
    ),
    "port_owner": ({"port": 53, "protocol": "udp"}, "ss -lunp 'sport = :53'"),
    "process_list": ({"match": "nginx: worker"}, "ps aux | grep -F 'nginx: worker'"),
    "host_resources": ({}, "uptime; free -m; top -bn1 | head -5"),
    "disk_usage": ({"path": "/var lib"}, "df -h '/var lib'; df -i '/var lib'"),
    "dns_lookup": ({"name": "example.com"}, "host example.com"),
    "http_check": ({"url": "http://localhost:8080/x?a=b"}, "curl -sS -i -m 10 'http://localhost:8080/x?a=b'"),
    "tls_certificate": (
        {"host": "api.example.com"},
        "openssl s_client -connect api.example.com:443 -servername api.example.com </dev/null "
        "| openssl x509 -noout -subject -issuer -dates",
    ),
    "pod_describe": ({"pod": "web-0"}, "kubectl describe pod web-0 -n default"),
    "pod_logs": (
        {"pod": "web-0", "container": "app", "previous": True, "tail": 7},
        "kubectl logs web-0 -n default -c app --previous --tail=7",
    ),
    "list_pods": ({"selector": "app=web"}, "kubectl get pods -n default -l app=web"),
    "k8s_events": (
        {"involved_object": "web-0", "namespace": "shop"},
        "kubectl get events -n shop --field-selector involvedObject.name=web-0 --sort-by=.lastTimestamp",
    ),
    "restart_service": ({"service": "nginx"}, "systemctl restart nginx"),
    "kill_process": ({"pid": 812, "signal": "HUP"}, "kill -HUP 812"),
    "rollout_restart": ({"deployment": "web"}, "kubectl rollout restart deployment/web -n default"),
    "rollout_undo": (
        {"deployment": "web", "namespace": "shop"},
        "kubectl rollout undo deployment/web -n shop",
    ),
    "open_files": ({"pid": 812}, "grep 'Max open files' /proc/812/limits; ls -l /proc/812/fd"),
    "node_status": ({"node": "ip-10-0-1-7.ec2.internal"}, "kubectl describe node ip-10-0-1-7.ec2.internal"),
    "rollout_status": (
        {"deployment": "web"},
        "kubectl rollout status deployment/web -n default --watch=false; kubectl describe deployment web -n default",
    ),
}
"""A valid call of every tool and the command it shows: the strings the old command table printed."""


def test_every_tool_has_a_sample_and_a_unique_name():
    assert set(SAMPLES) == set(TOOLS) and len(ALL_TOOLS) == len(TOOLS)


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_every_tool_is_declared_whole(name):
    tool = TOOLS[name]
    assert tool.description and tool.scopes and tool.shows is not None
    args, shown = SAMPLES[name]
    assert tool.command(tool.validate_args(args)) == shown
    assert command_line(name, args) == shown  # what callers holding an argument dict get


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_every_tool_has_the_handlers_its_scopes_imply(name):
    tool = TOOLS[name]
    needed = set().union(*(KINDS_BY_SCOPE[s] for s in tool.scopes))
    assert needed <= tool.target_kinds(), f"{name} lacks handlers for {needed - tool.target_kinds()}"
    assert tool.target_kinds() <= needed | OPTIONAL_KINDS


def test_derived_lists_equal_the_hand_written_ones_they_replaced():
    old_host = {
        "service_status",
        "log_tail",
        "port_owner",
        "process_list",
        "host_resources",
        "disk_usage",
        "dns_lookup",
        "http_check",
        "tls_certificate",
        "restart_service",
        "kill_process",
    }
    old_k8s = {
        "pod_describe",
        "pod_logs",
        "list_pods",
        "k8s_events",
        "log_tail",
        "rollout_restart",
        "rollout_undo",
    }
    old_sandbox_host_only = {
        "service_status",
        "port_owner",
        "process_list",
        "host_resources",
        "disk_usage",
        "restart_service",
        "kill_process",
    }
    new = {"open_files"}  # the host tool added since
    new_k8s = {"node_status", "rollout_status"}  # the Kubernetes tools added since
    assert catalog.HOST_TOOLS == old_host | new
    assert catalog.K8S_TOOLS == old_k8s | new_k8s
    assert catalog.HOST_ONLY == old_sandbox_host_only | new
    assert catalog.K8S_ONLY == (old_k8s | new_k8s) - {"log_tail"}  # evals/format.py's K8S_ONLY
    assert catalog.WRITE_TOOLS == {"restart_service", "kill_process", "rollout_restart", "rollout_undo"}
    assert catalog.LOG_TOOLS == {"log_tail", "pod_logs", "service_status"}
    assert catalog.WRITE_TOOLS == {t.name for t in ALL_TOOLS if t.risk is Risk.WRITE}


def test_the_derived_lists_are_the_ones_their_users_read():
    from assistant.findings import generic
    from assistant.runbook import checks
    from evals import format as case_format

    assert generic.LOG_TOOLS is catalog.LOG_TOOLS
    assert checks.WRITE_TOOLS is catalog.WRITE_TOOLS
    assert case_format.K8S_ONLY is catalog.K8S_ONLY


def test_targets_offer_exactly_the_tools_they_have_handlers_and_scopes_for():
    local = open_target("local")
    assert {n for n in TOOLS if local.supports(n)} == {t.name for t in ALL_TOOLS if t.handler_for("local")}
    host = open_target("sandbox:fd-exhaustion")
    assert {n for n in TOOLS if host.supports(n)} == catalog.HOST_TOOLS
    cluster = open_target("sandbox:oom-killed")
    offered = {n for n in TOOLS if cluster.supports(n)}
    assert offered == catalog.K8S_TOOLS | {t.name for t in ALL_TOOLS if Scope.NETWORK in t.scopes}
    ssh_handlers = {t.name for t in ALL_TOOLS if t.handler_for("ssh")}
    assert ssh_handlers == catalog.HOST_TOOLS - {"http_check", "tls_certificate"}


def test_a_second_handler_for_the_same_tool_and_kind_is_an_error():
    class EchoArgs(ToolArgs):
        pass

    echo: Tool[EchoArgs] = Tool(name="echo_registry_test", args_model=EchoArgs, description="test only")

    @echo.handler("local")
    async def first(target: object, args: EchoArgs) -> RawOutput:
        return RawOutput(command="echo")

    echo.handler("local")(first)  # the same function again (a module reloaded): fine

    async def second(target: object, args: EchoArgs) -> RawOutput:
        return RawOutput(command="echo")

    with pytest.raises(ValueError, match="already has a local handler"):
        echo.handler("local")(second)
    assert echo.handler_for("local") is first and echo.command(EchoArgs()) == "echo_registry_test "
