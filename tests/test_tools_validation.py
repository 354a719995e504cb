"""Arguments are checked at the edge: every argument type rejects what it must, accepts what it should.

Each case goes through the real tool declaration (`Tool.validate_args`) and through
`run_tool` on a real target, which must return an error result and never raise.
"""

from __future__ import annotations

import jsonschema
import pytest

from tools.base import ToolArgError
from tools.catalog import TOOLS
from tools.runner import run_tool
from tools.targets.local import LocalTarget

LONG_LABEL = "a" * 64

# (tool, args, a fragment of the reason)
REJECTED = [
    # ports
    ("port_owner", {"port": 0}, "port"),
    ("port_owner", {"port": 65536}, "port"),
    ("port_owner", {"port": -80}, "port"),
    ("port_owner", {"port": "http"}, "port"),
    ("port_owner", {"port": 80, "protocol": "icmp"}, "protocol"),
    ("tls_certificate", {"host": "db.internal", "port": 70000}, "port"),
    # pod names, namespaces, object names, selectors
    ("pod_describe", {"pod": "Web-1"}, "DNS-1123"),
    ("pod_describe", {"pod": "web_1"}, "DNS-1123"),
    ("pod_describe", {"pod": "-web"}, "DNS-1123"),
    ("pod_describe", {"pod": "web-"}, "DNS-1123"),
    ("pod_describe", {"pod": "a" * 254}, "253"),
    ("pod_describe", {"pod": "web;rm -rf /"}, "DNS-1123"),
    ("pod_describe", {"pod": "web-1", "namespace": LONG_LABEL}, "namespace"),
    ("pod_describe", {"pod": "web-1", "namespace": "Prod"}, "namespace"),
    ("pod_describe", {"pod": "web-1", "namespace": "kube.system"}, "namespace"),
    ("pod_logs", {"pod": "web-1", "container": "App"}, "container"),
    ("pod_logs", {"pod": "web-1", "tail": 0}, "tail"),
    ("list_pods", {"selector": "app=web;reboot"}, "selector"),
    ("list_pods", {"selector": "$(id)"}, "selector"),
    ("rollout_undo", {"deployment": "API"}, "deployment"),
    # URLs
    ("http_check", {"url": "ftp://127.0.0.1/file"}, "only http"),
    ("http_check", {"url": "file:///etc/passwd"}, "only http"),
    ("http_check", {"url": "javascript:alert(1)"}, "only http"),
    ("http_check", {"url": "gopher://127.0.0.1:70/"}, "only http"),
    ("http_check", {"url": "http://"}, "no host"),
    ("http_check", {"url": "http:///path"}, "no host"),
    ("http_check", {"url": "http://exa mple.com/"}, "url"),
    ("http_check", {"url": "http://127.0.0.1/\r\nX-Injected: 1"}, "url"),
    ("http_check", {"url": "http://bad_host!.com/"}, "url"),
    ("http_check", {"url": "http://127.0.0.1:99999/"}, "port"),
    ("http_check", {"url": "http://127.0.0.1:0/"}, "port"),
    ("http_check", {"url": "http://127.0.0.1:abc/"}, "port"),
    ("http_check", {"url": "http://" + "a" * 2050 + ".com/"}, "url"),
    # hosts
    ("dns_lookup", {"name": "a..b"}, "hostname"),
    ("dns_lookup", {"name": "foo bar"}, "hostname"),
    ("dns_lookup", {"name": "db;id"}, "hostname"),
    ("dns_lookup", {"name": "-rf"}, "hostname"),
    ("dns_lookup", {"name": ("a" * 60 + ".") * 5}, "name"),
    ("dns_lookup", {"name": "a" * 64 + ".com"}, "hostname"),
    ("dns_lookup", {"name": ""}, "hostname"),
    ("tls_certificate", {"host": "https://api.internal"}, "hostname"),
    # services
    ("service_status", {"service": "nginx; rm -rf /"}, "not a valid service name"),
    ("service_status", {"service": "$(reboot)"}, "not a valid service name"),
    ("service_status", {"service": "`id`"}, "not a valid service name"),
    ("service_status", {"service": "ngi nx"}, "not a valid service name"),
    ("service_status", {"service": "--all"}, "not a valid service name"),
    ("service_status", {"service": "../../bin/sh"}, "not a valid service name"),
    ("service_status", {"service": "a|b"}, "not a valid service name"),
    ("service_status", {"service": "a" * 129}, "128"),
    ("restart_service", {"service": "ngi\nnx"}, "not a valid service name"),
    # logs, matches
    ("log_tail", {"source": ""}, "source"),
    ("log_tail", {"source": "/var/log/a\x00.log"}, "control"),
    ("log_tail", {"source": "/var/log/a\n.log"}, "control"),
    ("log_tail", {"source": "/var/log/" + "a" * 4100}, "4096"),
    ("log_tail", {"source": "/var/log/syslog", "lines": 0}, "lines"),
    ("log_tail", {"source": "/var/log/syslog", "lines": 2001}, "lines"),
    ("log_tail", {"source": "/var/log/syslog", "grep": "x" * 201}, "grep"),
    ("process_list", {"match": "a\x1b[31m"}, "match"),
    ("process_list", {"match": "a" * 129}, "match"),
    ("disk_usage", {"path": "/" + "a" * 4100}, "path"),
    # writes
    ("kill_process", {"pid": 1}, "pid"),
    ("kill_process", {"pid": 0}, "pid"),
    ("kill_process", {"pid": 5_000_000}, "pid"),
    ("kill_process", {"pid": 1234, "signal": "STOP"}, "signal"),
    ("kill_process", {"pid": "1234; reboot"}, "pid"),
    # shape
    ("port_owner", {"port": 80, "extra": 1}, "extra"),
    ("service_status", {}, "service"),
    ("host_resources", {"verbose": True}, "extra"),
]

ACCEPTED = [
    ("port_owner", {"port": 1}, {"port": 1}),
    ("port_owner", {"port": 65535, "protocol": "udp"}, {"port": 65535}),
    ("port_owner", {"port": "8080"}, {"port": 8080}),
    ("pod_describe", {"pod": "web-7d4b9c-x2x9z", "namespace": "a" * 63}, {"namespace": "a" * 63}),
    ("pod_describe", {"pod": "a" * 253}, {"pod": "a" * 253}),
    ("list_pods", {"selector": "app=web,tier!=cache"}, {"selector": "app=web,tier!=cache"}),
    ("http_check", {"url": "http://127.0.0.1:8080/health?x=1"}, {}),
    ("http_check", {"url": "https://[::1]:8443/"}, {}),
    ("http_check", {"url": "HTTPS://Api.Internal/"}, {}),
    ("dns_lookup", {"name": "Example.COM."}, {"name": "example.com"}),
    ("dns_lookup", {"name": "10.0.3.12"}, {"name": "10.0.3.12"}),
    ("dns_lookup", {"name": "[::1]"}, {"name": "::1"}),
    ("dns_lookup", {"name": "_srv.db-prod.internal"}, {}),
    ("service_status", {"service": "nginx"}, {}),
    ("service_status", {"service": "php8.1-fpm.service"}, {}),
    ("service_status", {"service": "getty@tty1"}, {}),
    ("service_status", {"service": "  nginx  "}, {"service": "nginx"}),
    ("log_tail", {"source": "unit:nginx", "lines": 2000, "grep": "error|crit"}, {}),
    ("log_tail", {"source": "pod:prod/web-1/app"}, {}),
    ("kill_process", {"pid": 2, "signal": "KILL"}, {}),
]


@pytest.mark.parametrize(
    ("tool", "args", "reason"), REJECTED, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(REJECTED)]
)
async def test_rejected_arguments(tool, args, reason):
    with pytest.raises(ToolArgError) as exc:
        TOOLS[tool].validate_args(args)
    message = str(exc.value)
    assert message.startswith(f"{tool}: invalid arguments: ")
    if reason:
        assert reason.lower() in message.lower(), message
    r = await run_tool(LocalTarget("local"), tool, args, approved=True)
    assert not r.ok and r.exit_code is None and r.output == "" and r.error == message


@pytest.mark.parametrize(
    ("tool", "args", "expect"), ACCEPTED, ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(ACCEPTED)]
)
def test_accepted_arguments(tool, args, expect):
    parsed = TOOLS[tool].validate_args(args).model_dump()
    for key, value in expect.items():
        assert parsed[key] == value


@pytest.mark.parametrize("raw", [None, {}, [], "port=80", 80])
async def test_argument_shapes_never_crash(raw):
    r = await run_tool(LocalTarget("local"), "port_owner", raw)
    assert not r.ok and r.error
    r = await run_tool(LocalTarget("local"), "no_such_tool", {})
    assert not r.ok and "unknown tool" in r.error


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_schemas_are_valid_and_closed(name):
    tool = TOOLS[name]
    schema = tool.function_schema()["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema.get("additionalProperties") is False
    assert tool.description and len(tool.description) < 120
