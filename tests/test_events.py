"""Events: every type round-trips through JSON and the store, `data` is chosen by `type`, and a finding is
declared once (assistant/events.py `FindingFields`) with every other shape derived from it."""

from __future__ import annotations

import json
import typing

import httpx
import pytest
from pydantic import ValidationError

from assistant import store
from assistant.config import Settings
from assistant.events import (
    PAYLOADS,
    ApprovalDecided,
    ApprovalRequired,
    Error,
    Event,
    EventType,
    Evidence,
    Finding,
    FindingFields,
    FindingResolved,
    Message,
    NextCheck,
    Severity,
    Token,
    ToolCall,
    ToolResultEvent,
    TurnFinished,
    TurnStarted,
    UserMessage,
    payloads,
)
from assistant.pir.data import FindingFacts
from assistant.store.models import FindingRow
from web.app import create_app
from web.schemas import FindingOut

TURN = "turn-1"
EXAMPLES = [
    UserMessage(text="nginx returns 503", author="alice"),
    TurnStarted(model="firstline/runbook", target="sandbox:nginx-port-conflict"),
    Token(text="Checking "),
    ToolCall(call_id="c1", tool="port_owner", args={"port": 80}, command="ss -ltnp 'sport = :80'"),
    ToolResultEvent(
        call_id="c1", tool="port_owner", ok=False, status="timeout", error="timed out after 15 s"
    ),
    Finding(
        finding_id="F1",
        signature="port-in-use",
        title="Port 80 is held by apache2",
        severity="critical",
        evidence=[Evidence(call_id="c1", tool="port_owner", lines=["LISTEN 0 511 *:80 users:((apache2))"])],
        checks=[NextCheck(tool="service_status", args={"service": "apache2"})],
        facts={"port": 80, "process": "apache2"},
    ),
    ApprovalRequired(approval_id="a1", call_id="c2", tool="service_stop", args={"service": "apache2"}),
    ApprovalDecided(approval_id="a1", decision="approve", by="alice"),
    FindingResolved(finding_id="F1", signature="port-in-use", fix_call_id="c2", verify_call_id="c3"),
    Message(text="**Root cause** — apache2 holds port 80.", finding_ids=["F1"]),
    Error(message="the model timed out", kind="model", hint="try again"),
    TurnFinished(status="completed", steps=3, tool_calls=2, cost_usd=0.0012, wall_ms=812.5),
]


def test_the_examples_cover_every_event_type():
    assert {type(d) for d in EXAMPLES} == set(PAYLOADS.values())
    assert set(PAYLOADS) == set(EventType)


@pytest.mark.parametrize("data", EXAMPLES, ids=lambda d: type(d).__name__)
def test_every_event_round_trips_through_json(data):
    event = Event.of(data, TURN).model_copy(
        update={"seq": 7, "session_id": "s1", "at": "2026-12-03T08:00:00"}
    )
    wire = json.loads(json.dumps(event.to_json()))
    assert wire["type"] == event.type.value
    back = Event.from_json(wire)
    assert back == event and type(back.data) is type(data)


def test_data_is_read_as_the_payload_its_type_names():
    # {"text": ...} fits UserMessage, Token and Message alike: the type decides, not the first union member.
    for kind, cls in [("user_message", UserMessage), ("token", Token), ("message", Message)]:
        event = Event.from_json({"type": kind, "data": {"text": "hello"}})
        assert type(event.data) is cls
    event = Event.model_validate({"type": "turn_finished", "data": {"status": "budget", "steps": 9}})
    assert isinstance(event.data, TurnFinished) and event.data.steps == 9


def test_a_payload_that_is_not_its_types_is_refused():
    with pytest.raises(ValidationError, match="a token event carries Message, not Token"):
        Event(type=EventType.TOKEN, data=Message(text="hi"))
    with pytest.raises(ValidationError):
        Event.from_json({"type": "tool_call", "data": {"text": "no call id"}})
    with pytest.raises(ValueError):
        Event.from_json({"type": "not_a_type", "data": {}})


def test_payloads_picks_one_type_in_order():
    events = [Event.of(d, TURN) for d in [*EXAMPLES, Token(text="again")]]
    assert [t.text for t in payloads(events, Token)] == ["Checking ", "again"]
    assert payloads(events, TurnFinished)[0].steps == 3


def test_every_event_round_trips_through_the_store(engine):
    """Appended in a turn's order (approvals and findings fill their derived tables on the way), read back equal."""
    with store.writing(engine) as db:
        sid = store.create_session(db, target="sandbox:nginx-port-conflict", model="firstline/runbook").id
    written = store.append_many(engine, session_id=sid, events=[Event.of(d, TURN) for d in EXAMPLES])
    with store.reading(engine) as db:
        read = store.list_events(db, session_id=sid)
        (finding,) = store.list_findings(db, session_id=sid)
    assert [e.seq for e in read] == list(range(1, len(EXAMPLES) + 1))
    assert [(e.type, e.data, e.turn_id) for e in read] == [(e.type, e.data, e.turn_id) for e in written]
    assert finding.severity == "critical" and finding.facts == {"port": 80, "process": "apache2"}


def test_a_finding_is_declared_once_and_its_shapes_derive_from_it():
    shared = set(FindingFields.model_fields)
    for shape in (Finding, FindingRow, FindingOut, FindingFacts):
        assert issubclass(shape, FindingFields), shape
        assert shared <= set(shape.model_fields), shape
        assert shape.model_fields["severity"].annotation == Severity, shape  # never drifts to str
    assert typing.get_args(Severity) == ("critical", "high", "medium", "low", "info")


def test_a_stored_findings_row_reads_back_as_the_api_shape(engine):
    with store.writing(engine) as db:
        sid = store.create_session(db, target="local", model="firstline/runbook").id
    store.append(engine, session_id=sid, event=Event.of(EXAMPLES[5], TURN))
    with store.reading(engine) as db:
        (row,) = store.list_findings(db, session_id=sid)
    out = FindingOut.of(row)
    assert (out.finding_id, out.severity, out.turn_id) == ("F1", "critical", TURN)
    assert out.evidence[0]["lines"] == ["LISTEN 0 511 *:80 users:((apache2))"]


async def test_the_ui_listens_for_every_event_type_the_enum_names(tmp_path):
    """The browser's EventSource listeners come from the Python enum (served on the page), not a list in JS."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'ui.db'}")
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost"
        ) as c:
            page = (await c.get("/")).text
    finally:
        await app.state.runtime.shutdown()
    served = page.split('data-event-types="', 1)[1].split('"', 1)[0].split()
    assert served == [t.value for t in EventType]
