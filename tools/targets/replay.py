"""The `replay` target: answers tool calls from a recorded session instead of a live system.

Eval cases (evals/cases/*.yaml) hold what each tool printed during a real or sandbox
incident. Replaying those results lets any model be scored offline, repeatably and
for free. A call that was never recorded is an error result (and counted), never a
guess; write tools are never executed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tools.base import RawOutput, Risk, Tool, ToolArgs
from tools.targets.base import Target, TargetConfig, TargetError
from tools.targets.fleet import Fleet

WRITE_REFUSED = "write tools are not executed in replay"


class RecordedCall(BaseModel):
    """One recorded tool result. `args` is a subset: keys left out match any value."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    exit_code: int | None = 0
    output: str = ""
    command: str | None = None
    data: dict[str, Any] | None = None
    error: str | None = None
    host: str | None = None
    """The host of a multi-host target this output came from; None: any host (and single-host cases)."""


def format_call(tool: str, args: dict[str, Any]) -> str:
    """`service_status(service=nginx)`: how a call is named in errors and reports."""
    inner = ", ".join(f"{k}={v}" for k, v in sorted(args.items()))
    return f"{tool}({inner})"


def _same(recorded: Any, actual: Any) -> bool:
    if recorded == actual:
        return True
    # YAML may hold 80 where the call has "80" (or the reverse); booleans stay strict.
    if isinstance(recorded, bool) or isinstance(actual, bool):
        return False
    return str(recorded) == str(actual)


def match_score(entry: RecordedCall, tool: str, args: dict[str, Any]) -> int | None:
    """How many recorded keys the call matches, or None when the entry does not apply."""
    if entry.tool != tool:
        return None
    for key, value in entry.args.items():
        if key not in args or not _same(value, args[key]):
            return None
    return len(entry.args)


def find_recorded(entries: list[RecordedCall], tool: str, args: dict[str, Any]) -> RecordedCall | None:
    """The most specific matching entry (most matching keys); the first recorded wins a tie."""
    best: RecordedCall | None = None
    best_score = -1
    for entry in entries:
        score = match_score(entry, tool, args)
        if score is not None and score > best_score:
            best, best_score = entry, score
    return best


class ReplayTarget(Target):
    """Recorded results stand in for a host or cluster; describes itself as the recorded one."""

    kind = "replay"

    def __init__(
        self,
        entries: list[RecordedCall | dict[str, Any]],
        *,
        name: str = "replay",
        described_kind: str = "host",
        config: TargetConfig | None = None,
    ) -> None:
        super().__init__(name, config)
        self.entries = [e if isinstance(e, RecordedCall) else RecordedCall.model_validate(e) for e in entries]
        self.described_kind = described_kind
        self.unrecorded: list[str] = []
        """Calls that had no recorded result, as `tool(k=v, ...)`, in call order."""
        self.write_attempts: list[str] = []
        """Write calls that reached the target (only possible when approved); never executed."""
        self.calls: list[str] = []

    def supports(self, tool_name: str) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.described_kind}

    async def run(self, tool: Tool, args: ToolArgs) -> RawOutput:
        call = args.model_dump(exclude_none=True)
        if call.get("all_namespaces"):  # -A: a recording of one namespace must not answer it
            call.pop("namespace", None)
        label = format_call(tool.name, call)
        self.calls.append(label)
        if tool.risk is Risk.WRITE:
            self.write_attempts.append(label)
            raise TargetError(WRITE_REFUSED, status="refused")
        entry = find_recorded(self.entries, tool.name, call)
        if entry is None:
            self.unrecorded.append(label)
            raise TargetError(f"no recorded output for {label}", status="no_data")
        return RawOutput(
            exit_code=entry.exit_code,
            output=entry.output,
            data=entry.data,
            error=entry.error,
            command=entry.command or tool.command(args),
            source="replay",
        )


class ReplayFleet(Fleet):
    """A recorded multi-host session: one replay per host; entries without `host` answer on every host."""

    kind = "replay"

    def __init__(
        self,
        entries: list[RecordedCall | dict[str, Any]],
        hosts: list[str],
        *,
        name: str = "replay",
        described_kind: str = "host",
        config: TargetConfig | None = None,
    ) -> None:
        calls = [e if isinstance(e, RecordedCall) else RecordedCall.model_validate(e) for e in entries]
        members: dict[str, Target] = {
            h: ReplayTarget(
                [e for e in calls if e.host in (None, h)],
                name=name,
                described_kind=described_kind,
                config=config,
            )
            for h in hosts
        }
        super().__init__(name, members)
        self.described_kind = described_kind

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.described_kind, "hosts": list(self.members)}

    def _all(self, attr: str) -> list[str]:
        return [item for m in self.members.values() for item in getattr(m, attr)]

    @property
    def unrecorded(self) -> list[str]:
        return self._all("unrecorded")

    @property
    def write_attempts(self) -> list[str]:
        return self._all("write_attempts")


def open_replay(
    entries: Sequence[RecordedCall | dict[str, Any]],
    *,
    name: str = "replay",
    described_kind: str = "host",
    hosts: list[str] | None = None,
) -> ReplayTarget | ReplayFleet:
    """A replay of one host, or of several when the case names hosts (or its entries carry one)."""
    calls = [e if isinstance(e, RecordedCall) else RecordedCall.model_validate(e) for e in entries]
    hosts = list(dict.fromkeys([*(hosts or []), *(e.host for e in calls if e.host)]))
    recorded: list[RecordedCall | dict[str, Any]] = list(calls)
    if hosts:
        return ReplayFleet(recorded, hosts, name=name, described_kind=described_kind)
    return ReplayTarget(recorded, name=name, described_kind=described_kind)
