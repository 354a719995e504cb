"""The replay target answers calls from recorded results, through the real tool runner."""

from __future__ import annotations

from tools.runner import run_tool
from tools.targets.replay import WRITE_REFUSED, RecordedCall, ReplayTarget, find_recorded

JOURNAL = "Nov 23 03:12:01 web-prod-01 nginx[812]: bind() to 0.0.0.0:80 failed (98: Address already in use)\n"


def _target() -> ReplayTarget:
    return ReplayTarget(
        [
            {"tool": "log_tail", "args": {}, "output": "generic tail\n"},
            {"tool": "log_tail", "args": {"source": "unit:nginx"}, "output": JOURNAL},
            {"tool": "log_tail", "args": {"source": "unit:nginx", "grep": "bind"}, "output": "only bind\n"},
            {
                "tool": "port_owner",
                "args": {"port": 80},
                "exit_code": 0,
                "output": "State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n",
            },
            {
                "tool": "service_status",
                "args": {"service": "nginx"},
                "exit_code": 3,
                "command": "systemctl status nginx --no-pager",
                "output": "× nginx.service\n",
            },
            {"tool": "dns_lookup", "args": {"name": "db.internal"}, "exit_code": 1, "error": "timed out"},
        ],
        name="web-prod-01",
        described_kind="host",
    )


async def test_most_specific_entry_wins_and_omitted_args_match_anything():
    target = _target()
    generic = await run_tool(target, "log_tail", {"source": "/var/log/syslog", "lines": 20})
    assert generic.output == "generic tail\n"
    unit = await run_tool(target, "log_tail", {"source": "unit:nginx", "lines": 200})
    assert unit.output == JOURNAL
    grepped = await run_tool(target, "log_tail", {"source": "unit:nginx", "grep": "bind"})
    assert grepped.output == "only bind\n"
    assert target.unrecorded == []


async def test_recorded_exit_code_command_and_derived_command():
    target = _target()
    status = await run_tool(target, "service_status", {"service": "nginx"})
    assert (status.ok, status.exit_code, status.command) == (False, 3, "systemctl status nginx --no-pager")
    assert status.target == "web-prod-01" and status.source == "replay"
    owner = await run_tool(target, "port_owner", {"port": 80})
    assert owner.ok and owner.command == "ss -ltnp 'sport = :80'"
    failed = await run_tool(target, "dns_lookup", {"name": "db.internal"})
    assert failed.ok is False and failed.error == "timed out"


async def test_unrecorded_calls_are_error_results_and_counted():
    target = _target()
    other_port = await run_tool(target, "port_owner", {"port": 443})
    assert other_port.ok is False and other_port.exit_code is None
    assert other_port.error == "no recorded output for port_owner(port=443, protocol=tcp)"
    missing_tool = await run_tool(target, "disk_usage", {"path": "/var"})
    assert "no recorded output for disk_usage(path=/var)" == missing_tool.error
    assert target.unrecorded == ["port_owner(port=443, protocol=tcp)", "disk_usage(path=/var)"]


async def test_write_tools_never_execute():
    target = _target()
    refused = await run_tool(target, "kill_process", {"pid": 2314})
    assert refused.ok is False and "needs a person's approval" in refused.error
    assert target.write_attempts == []  # the runner refused before the target saw it
    approved = await run_tool(target, "restart_service", {"service": "nginx"}, approved=True)
    assert approved.ok is False and approved.error == WRITE_REFUSED
    assert target.write_attempts == ["restart_service(service=nginx)"]
    assert target.unrecorded == []


async def test_invalid_arguments_never_reach_the_recording():
    target = _target()
    bad = await run_tool(target, "service_status", {"service": "nginx; rm -rf /"})
    assert bad.ok is False and "not a valid service name" in bad.error
    assert target.calls == [] and target.unrecorded == []


def test_describe_and_supports():
    target = _target()
    assert target.describe() == {"name": "web-prod-01", "kind": "host"}
    assert target.kind == "replay"
    assert all(target.supports(t) for t in ("pod_describe", "service_status", "rollout_undo"))


def test_tie_goes_to_first_recorded_and_values_compare_loosely():
    entries = [
        RecordedCall(tool="port_owner", args={"port": "80"}, output="first"),
        RecordedCall(tool="port_owner", args={"port": 80}, output="second"),
    ]
    assert find_recorded(entries, "port_owner", {"port": 80, "protocol": "tcp"}).output == "first"
    assert find_recorded(entries, "port_owner", {"port": 81, "protocol": "tcp"}) is None
    flag = [RecordedCall(tool="pod_logs", args={"pod": "web-1", "previous": True}, output="prev")]
    assert find_recorded(flag, "pod_logs", {"pod": "web-1", "previous": "True"}) is None
    assert find_recorded(flag, "pod_logs", {"pod": "web-1", "previous": True}).output == "prev"


async def test_an_all_namespaces_listing_is_not_answered_by_one_namespaces_recording():
    target = ReplayTarget(
        [
            {"tool": "list_pods", "args": {"namespace": "default"}, "output": "No resources found"},
        ],
        described_kind="kubernetes",
    )
    one = await run_tool(target, "list_pods", {})
    assert one.output == "No resources found"
    everywhere = await run_tool(target, "list_pods", {"all_namespaces": True})
    assert everywhere.status == "no_data" and target.unrecorded == ["list_pods(all_namespaces=True)"]
    target.entries.append(
        RecordedCall.model_validate(
            {"tool": "list_pods", "args": {"all_namespaces": True}, "output": "NAMESPACE NAME"}
        )
    )
    assert (await run_tool(target, "list_pods", {"all_namespaces": True})).output == "NAMESPACE NAME"
