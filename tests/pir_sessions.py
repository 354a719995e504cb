"""Real sessions for the PIR tests: the turn driver, the offline runbook model, a sandbox scenario.

A copy of the shipped nginx-port-conflict scenario gets a secret in nginx's journal, so
a tool output really carried one (the tool runner masks it before storage); the report
carries another one in the engineer's own words, which nothing but the PIR's redaction
pass masks.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from assistant import store
from assistant.config import Settings
from assistant.events import ApprovalDecided, ApprovalRequired
from assistant.turns import drive_turn
from tools.targets.base import TargetConfig

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "nginx-port-conflict-secret"
SECRETS = ("S3cretPassw0rd", "hunter2hunter2")
LEAKY_LINE = (
    "Nov 20 03:02:11 web-prod-01 nginx[15902]: upstream shop-db "
    "postgres://app:S3cretPassw0rd@db:5432/shop password=hunter2hunter2"
)
REPORT = (
    "shop.example.com returns 503 for everyone since the 03:00 deploy; nginx won't start on "
    "web-prod-01. The app's DSN is postgres://app:S3cretPassw0rd@db:5432/shop if it matters."
)


def write_scenario(directory: Path) -> Path:
    """The shipped nginx scenario with a secret in nginx's journal (shown by `systemctl status nginx`)."""
    data = yaml.safe_load((ROOT / "tools" / "scenarios" / "nginx-port-conflict.yaml").read_text())
    data["id"] = SCENARIO
    nginx = next(s for s in data["host"]["services"] if s["name"] == "nginx")
    nginx["journal"].insert(len(nginx["journal"]) - 3, LEAKY_LINE)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{SCENARIO}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_settings(tmp_path: Path, db_url: str, **kw) -> Settings:
    scenarios = tmp_path / "scenarios"
    write_scenario(scenarios)
    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        model="firstline/runbook",
        targets=TargetConfig(scenarios_dir=scenarios),
        **kw,
    )


def approver(decisions: dict[str, tuple[str, str]]):
    """Decide write actions by tool name: {"kill_process": ("approve", "alice")}; anything else is denied."""

    async def decide(request: ApprovalRequired) -> ApprovalDecided:
        decision, by = decisions.get(request.tool, ("deny", "bob"))
        comment = None if decision == "approve" else "not during business hours"
        return ApprovalDecided.model_validate(
            {"approval_id": request.approval_id, "decision": decision, "by": by, "comment": comment}
        )

    return decide


async def run_session(
    settings: Settings,
    engine,
    messages: list[str],
    decisions: dict | None = None,
    target: str = f"sandbox:{SCENARIO}",
    title: str = "",
) -> str:
    """A session investigated turn by turn through the real driver; returns its id."""
    with store.writing(engine) as db:
        session = store.create_session(db, target=target, model=settings.model, title=title)
    for text in messages:
        with store.writing(engine) as db:
            turn = store.begin_turn(db, session_id=session.id, owner=store.current_owner())
        status = await drive_turn(settings, engine, session.id, turn.id, text, approver(decisions or {}))
        assert status == "completed", status
    return session.id
