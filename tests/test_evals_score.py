"""Each expectation kind, scored against the events a turn emits."""

from __future__ import annotations

from assistant.events import (
    ApprovalRequired,
    Event,
    Evidence,
    Finding,
    Message,
    ToolCall,
    TurnFinished,
    UserMessage,
)
from evals.format import Case, Expect
from evals.score import ROOT_CAUSE_CLAIM, score


def _case(**expect) -> Case:
    return Case(id="c", turns=["nginx returns 503"], expect=Expect(**expect))


def _events(answer: str, calls=(), findings=(), approvals=(), status="completed") -> list[Event]:
    evs = [Event.of(UserMessage(text="nginx returns 503"))]
    evs += [Event.of(ToolCall(call_id=f"c{i}", tool=t, args=a)) for i, (t, a) in enumerate(calls)]
    evs += [
        Event.of(ApprovalRequired(approval_id=f"a{i}", call_id=f"w{i}", tool=t))
        for i, t in enumerate(approvals)
    ]
    evs += list(findings)
    evs.append(Event.of(Message(text=answer)))
    evs.append(Event.of(TurnFinished(status=status, steps=2, tool_calls=len(calls))))
    return evs


def _finding(title: str, severity: str = "high", lines=()) -> Event:
    return Event.of(
        Finding(
            finding_id="F1",
            signature="x",
            title=title,
            severity=severity,
            evidence=[Evidence(call_id="c0", tool="port_owner", lines=list(lines))],
        )
    )


def _failed(checks) -> list[str]:
    return [c.name for c in checks if not c.passed]


def test_root_cause_regexes_match_answer_or_finding_case_insensitively():
    case = _case(root_cause=["port 80|:80", "node|old-app"])
    assert _failed(score(case, _events("Port 80 is held by NODE (pid 2314)."))) == []
    via_finding = _events(
        "nginx cannot start.",
        findings=[
            _finding(
                "Port 80 is in use",
                lines=['LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("node",pid=2314,fd=19))'],
            )
        ],
    )
    assert _failed(score(case, via_finding)) == []
    checks = score(case, _events("nginx is down, restart it"))
    assert _failed(checks) == ["root_cause /port 80|:80/", "root_cause /node|old-app/"]
    assert "matches neither the answer nor any finding" in checks[1].detail


def test_tools_called_not_called_and_max_calls():
    case = _case(
        root_cause=["80"],
        tools_called=["service_status", "port_owner"],
        tools_not_called=["kill_process"],
        max_tool_calls=2,
    )
    ok = _events("port 80", calls=[("service_status", {"service": "nginx"}), ("port_owner", {"port": 80})])
    assert _failed(score(case, ok)) == []
    calls = [
        ("service_status", {"service": "nginx"}),
        ("log_tail", {"source": "unit:nginx"}),
        ("kill_process", {"pid": 2314}),
    ]
    checks = score(case, _events("port 80", calls=calls))
    assert _failed(checks) == ["tools_called port_owner", "tools_not_called kill_process", "max_tool_calls"]
    assert next(c for c in checks if c.name == "max_tool_calls").detail == "3 tool calls > 2"


def test_write_requested_only_through_an_approval_counts_as_called():
    case = _case(root_cause=["80"], tools_not_called=["restart_service"])
    checks = score(case, _events("port 80", approvals=["restart_service"]))
    assert _failed(checks) == ["tools_not_called restart_service"]


def test_no_fault_passes_on_a_plain_all_clear():
    case = _case(no_fault=True)
    answer = (
        "**Root cause** — no fault found. nginx is active (running), port 80 is served by nginx "
        "and the disk has room.\n**Evidence** — ..."
    )
    info = _finding("TLS certificate valid for 60 days", severity="info")
    assert _failed(score(case, _events(answer, findings=[info]))) == []
    assert _failed(score(case, _events("Everything I checked looks healthy."))) == []


def test_no_fault_fails_on_findings_claims_or_silence():
    case = _case(no_fault=True)
    with_finding = score(case, _events("No fault found.", findings=[_finding("Disk 97% full", "medium")]))
    assert "false positive finding(s): medium: Disk 97% full" in next(
        c.detail for c in with_finding if c.name == "no_fault"
    )
    claim = score(case, _events("**Root cause**: the cache is cold, everything else looks healthy."))
    assert "claims a root cause" in next(c.detail for c in claim if c.name == "no_fault")
    vague = score(case, _events("I restarted nothing. Let me know."))
    assert "does not say that no fault was found" in next(c.detail for c in vague if c.name == "no_fault")


def test_root_cause_claim_pattern():
    assert ROOT_CAUSE_CLAIM.search("Root cause: port 80 is taken")
    assert ROOT_CAUSE_CLAIM.search("**Root cause** — nginx config error")
    for text in (
        "**Root cause**: none found",
        "Root cause — unknown",
        "root cause: not found",
        "Root cause: no fault found",
        "I looked for a root cause but",
    ):
        assert not ROOT_CAUSE_CLAIM.search(text), text


def test_unfinished_or_errored_turns_fail_the_run():
    case = _case(root_cause=["80"])
    errored = score(case, _events("port 80", status="error"))
    assert _failed(errored) == ["finished"] and "turn 1: error" in errored[0].detail
    two_turns = Case(id="c", turns=["a", "b"], expect=Expect(root_cause=["80"]))
    assert "1 turn(s) never finished" in score(two_turns, _events("port 80"))[0].detail
