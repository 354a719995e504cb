"""Run one tool call safely: validate, gate writes, time out, clean, redact, cap.

Whatever happens, the caller gets a ToolResult; nothing here raises on bad input.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tools.base import Risk, ToolArgError, ToolResult, ToolStatus
from tools.catalog import TOOLS
from tools.offcore import clean_and_mask_off_loop
from tools.output import cap
from tools.redact import redact as default_redact
from tools.targets.base import Target, TargetError
from tools.targets.fleet import Fleet


def _error(
    name: str,
    args: Any,
    target: Target,
    started: datetime,
    t0: float,
    msg: str,
    status: ToolStatus,
    command: str = "",
) -> ToolResult:
    return ToolResult(
        tool=name,
        args=args if isinstance(args, dict) else {},
        ok=False,
        status=status,
        exit_code=None,
        output="",
        command=command,
        target=target.name,
        started_at=started,
        duration_ms=(time.perf_counter() - t0) * 1000,
        error=msg,
    )


async def run_tool(
    target: Target,
    name: str,
    raw_args: dict[str, Any] | None,
    *,
    approved: bool = False,
    approval_id: str | None = None,
    redactor: Callable[[str], str] = default_redact,
) -> ToolResult:
    """Run `name` on `target`. Write tools run only when `approved` is True (`approval_id` names the
    person's decision, which remote targets pass on signed). On a fleet, `host` in the args picks the member."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if isinstance(target, Fleet):
        member, host, rest, problem = target.pick(name, raw_args)
        if member is None:
            result = _error(name, rest, target, started, t0, problem or "no such host", "refused")
        else:
            result = await run_tool(
                member, name, rest, approved=approved, approval_id=approval_id, redactor=redactor
            )
        return result.model_copy(update={"host": host or None, "target": target.name})
    tool = TOOLS.get(name)
    if tool is None:
        return _error(
            name,
            raw_args,
            target,
            started,
            t0,
            f"unknown tool {name!r}; available: {', '.join(sorted(TOOLS))}",
            "refused",
        )
    try:
        args = tool.validate_args(raw_args)
    except ToolArgError as exc:
        return _error(name, raw_args, target, started, t0, str(exc), "refused")
    args_dict = args.model_dump(exclude_none=True)
    if tool.risk is Risk.WRITE and not approved:
        return _error(
            name,
            args_dict,
            target,
            started,
            t0,
            f"{name} is a write action and needs a person's approval; it was not run",
            "needs_approval",
        )
    if not target.supports(name):
        return _error(
            name,
            args_dict,
            target,
            started,
            t0,
            f"{name} is not available on target {target.name} ({target.kind})",
            "unsupported",
        )
    try:
        running = (
            target.run_approved(tool, args, approval_id)
            if approved and approval_id
            else target.run(tool, args)
        )
        raw = await asyncio.wait_for(running, timeout=tool.timeout_s + target.timeout_grace_s)
    except TimeoutError:
        return _error(
            name,
            args_dict,
            target,
            started,
            t0,
            f"{name} timed out after {tool.timeout_s:g}s and was stopped",
            "timeout",
        )
    except TargetError as exc:
        return _error(name, args_dict, target, started, t0, str(exc), exc.status)
    except Exception as exc:  # noqa: BLE001 - a target bug or a vanished system must not end the session
        return _error(
            name,
            args_dict,
            target,
            started,
            t0,
            f"{name} failed on {target.name}: {type(exc).__name__}: {exc}",
            "error",
        )
    text = await clean_and_mask_off_loop(raw.output, redactor)  # megabytes: never on the event loop
    digest = hashlib.sha256(text.encode()).hexdigest()
    text, truncated = cap(text, tool.output_cap)
    ok = raw.ok if raw.ok is not None else (raw.exit_code == 0 and raw.error is None)
    status: ToolStatus = "error" if not ok else ("ok" if text.strip() or raw.data else "no_data")
    return ToolResult(
        tool=name,
        args=args_dict,
        ok=ok,
        status=status,
        exit_code=raw.exit_code,
        output=text,
        data=raw.data,
        command=redactor(raw.command),
        target=target.name,
        started_at=started,
        duration_ms=(time.perf_counter() - t0) * 1000,
        truncated=truncated,
        source=raw.source,
        error=raw.error,
        output_sha256=digest,
        remote=raw.remote,
    )
