"""Loading case files: schema problems name the file and field, and never stop the rest."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from evals.format import SCHEMA_PATH, load_cases, parse_case

GOOD = """\
format: firstline-session/1
id: {id}
title: nginx cannot bind :80
tags: [host, network]
target: {{name: web-prod-01, kind: host}}
x-owner: sre-team
turns:
  - "Our site on web-prod-01 returns 503. Can you check nginx?"
tools:
  - tool: service_status
    args: {{service: nginx}}
    exit_code: 3
    x-note: recorded on the night
    output: |
      × nginx.service - A high performance web server and a reverse proxy server
  - tool: dns_lookup
    args: {{name: DB.Internal.}}
    output: "db.internal has address 10.0.3.12\\n"
expect:
  root_cause: ["port 80|:80", "node|old-app"]
  tools_called: [service_status]
  tools_not_called: [kill_process]
  max_tool_calls: 8
  summary: nginx could not bind port 80
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_good_case_loads_with_normalised_args_and_x_keys(tmp_path):
    _write(tmp_path, "a.yaml", GOOD.format(id="nginx-port"))
    result = load_cases([tmp_path])
    assert result.errors == []
    (case,) = result.cases
    assert case.target.name == "web-prod-01" and case.extra == {"x-owner": "sre-team"}
    assert case.tools[1].args == {"name": "db.internal"}  # validated like a live call would be
    assert case.expect.max_tool_calls == 8 and case.tools[0].exit_code == 3


def test_bad_files_report_path_and_field_and_the_rest_still_load(tmp_path):
    _write(tmp_path, "good.yaml", GOOD.format(id="good-one"))
    _write(tmp_path, "sub/also-good.yml", GOOD.format(id="good-two"))
    bad_port = (
        GOOD.format(id="bad-port")
        .replace("service: nginx", "port: 70000")
        .replace("tool: service_status", "tool: port_owner")
    )
    _write(tmp_path, "bad-port.yaml", bad_port)
    _write(tmp_path, "bad-field.yaml", GOOD.format(id="bad-field").replace("exit_code: 3", "exitcode: 3"))
    _write(tmp_path, "bad-regex.yaml", GOOD.format(id="bad-regex").replace('"node|old-app"', '"node(("'))
    _write(tmp_path, "bad-tool.yaml", GOOD.format(id="bad-tool").replace("[kill_process]", "[kill_all]"))
    _write(tmp_path, "bad-yaml.yaml", "format: firstline-session/1\nturns: [unclosed\n")
    _write(tmp_path, "no-expect.yaml", GOOD.format(id="no-expect").split("expect:")[0] + "expect: {}\n")
    _write(tmp_path, "dup.yaml", GOOD.format(id="good-one"))
    result = load_cases([tmp_path])
    assert sorted(c.id for c in result.cases) == ["good-one", "good-two"]
    got = {(Path(e.path).name, e.field) for e in result.errors}
    assert ("bad-port.yaml", "tools[0].args.port") in got
    assert ("bad-field.yaml", "tools[0].exitcode") in got
    assert ("bad-regex.yaml", "expect.root_cause[1]") in got
    assert ("bad-tool.yaml", "expect.tools_not_called[0]") in got
    assert ("no-expect.yaml", "expect.root_cause") in got
    dup = [e for e in result.errors if e.field == "id"]
    assert len(dup) == 1 and "duplicate id 'good-one'" in dup[0].message  # files load in sorted order
    yaml_err = next(e for e in result.errors if e.path.endswith("bad-yaml.yaml"))
    assert yaml_err.field.startswith("line ") and "invalid YAML" in yaml_err.message
    assert str(yaml_err).startswith(str(tmp_path / "bad-yaml.yaml"))


def test_contradictions_and_unknown_args_are_reported():
    doc = yaml.safe_load(GOOD.format(id="x"))
    doc["expect"]["no_fault"] = True
    doc["tools"][0]["args"] = {"service": "nginx", "pid": 3}
    _, errors = parse_case(doc, "x.yaml")
    fields = {e.field: e.message for e in errors}
    assert "not an argument of service_status" in fields["tools[0].args.pid"]
    assert "cannot also expect a root cause" in fields["expect.root_cause"]


def test_missing_paths_are_errors_not_crashes(tmp_path):
    result = load_cases([tmp_path / "nope"])
    assert result.cases == [] and result.errors[0].message == "no such file or directory"


def test_schema_file_is_valid_and_accepts_the_shipped_cases():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = Path(__file__).resolve().parent.parent / "evals" / "cases"
    files = sorted(shipped.glob("*.yaml"))
    for f in files:
        jsonschema.validate(yaml.safe_load(f.read_text()), schema)
    result = load_cases([shipped])
    assert result.errors == [] and len(result.cases) == len(files)
    # What the suite promises to cover (see evals/README.md).
    cases = result.cases
    assert len(cases) >= 30
    assert sum(c.expect.no_fault for c in cases) >= 4
    assert sum(len(c.turns) >= 2 for c in cases) >= 3
    assert {c.target.kind for c in cases} == {"host", "kubernetes"}
    assert all(c.expect.summary for c in cases)  # every case can be judged
