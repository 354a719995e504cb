"""`firstline`: the command line. Thin: every command calls the same code the server uses.

It sits on top of everything (web, evals, assistant, tools) and nothing imports it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import typer
from rich.console import Console
from rich.table import Table

from assistant.config import load_settings
from cli.nodes import node_app, nodes_cmd

app = typer.Typer(
    help="Firstline: an on-call troubleshooting assistant.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
tools_app = typer.Typer(help="Run and list diagnostic tools directly.", no_args_is_help=True)
audit_app = typer.Typer(help="Verify and export the tamper-evident audit trail.", no_args_is_help=True)
users_app = typer.Typer(help="People who may use the server, their roles and tokens.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")
app.add_typer(audit_app, name="audit")
app.add_typer(node_app, name="node")
app.command("nodes")(nodes_cmd)
turns_app = typer.Typer(help="Running turns and their leases; force-close a stuck one.", no_args_is_help=True)
app.add_typer(turns_app, name="turns")
app.add_typer(users_app, name="users")
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _print_version(value: bool) -> None:
    if value:
        from assistant import __version__

        print(f"firstline {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Firstline: an on-call troubleshooting assistant."""


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]firstline:[/] {message}")
    return typer.Exit(code)


# ------------------------------------------------------------------ tools


@tools_app.command("list")
def tools_list(as_json: Annotated[bool, typer.Option("--json", help="JSON schemas")] = False) -> None:
    """Every tool with its risk and description."""
    from tools.catalog import ALL_TOOLS

    if as_json:
        console.print_json(json.dumps([t.function_schema() | {"risk": t.risk.value} for t in ALL_TOOLS]))
        return
    table = Table("tool", "risk", "description", box=None, header_style="bold")
    for t in ALL_TOOLS:
        table.add_row(t.name, "[red]write[/]" if t.risk.value == "write" else "read", t.description)
    console.print(table)


@tools_app.command(
    "run",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def tools_run(
    ctx: typer.Context,
    tool: Annotated[str, typer.Argument(help="tool name (see `firstline tools list`)")],
    target: Annotated[
        str, typer.Option(help="local | sandbox:<scenario> | kubernetes[:<context>] | ssh:[user@]host[:port]")
    ] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
) -> None:
    """Run one tool: `firstline tools run port_owner --target local --port 80`. Read tools only."""
    from cli.args import flags_help, parse_flags
    from tools.catalog import TOOLS
    from tools.targets import TargetError, open_target

    spec = TOOLS.get(tool)
    if spec is None:
        raise fail(f"unknown tool {tool!r}; see `firstline tools list`")
    if "--help" in ctx.args or "-h" in ctx.args:
        console.print(
            f"firstline tools run {tool} [--target T] [--json] OPTIONS\n\n{spec.description}\n\n"
            f"{flags_help(spec)}"
        )
        return
    try:
        raw = parse_flags(spec, ctx.args)
        settings = load_settings()
        result = asyncio.run(_run_and_close(open_target(target, settings.targets), tool, raw))
    except (ValueError, TargetError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(result.model_dump_json(indent=2))
    else:
        console.print(
            f"[dim]$ {result.command or tool}  @ {result.target}  "
            f"({result.source or result.target}, {result.duration_ms:.0f} ms)[/]",
            markup=True,
        )
        print(result.output, end="" if result.output.endswith("\n") else "\n")
        if result.error:
            err.print(f"[red]{result.error}[/]")
    raise typer.Exit(0 if result.ok else 1)


async def _run_and_close(target, tool: str, raw: dict):
    """One tool run, then the target's connections (SSH) are closed before the loop ends."""
    from tools.runner import run_tool

    try:
        return await run_tool(target, tool, raw)
    finally:
        await target.aclose()


@app.command()
def targets() -> None:
    """Targets a session can take: sandbox scenarios, this host, kube contexts, enrolled nodes and label groups."""
    from assistant.nodes.target import node_targets
    from assistant.store import StoreUnavailable, open_store
    from tools.targets import list_targets

    settings = load_settings()
    found = list_targets(settings.targets)
    try:
        found += node_targets(open_store(settings.db_url))
    except StoreUnavailable:
        pass  # nodes are listed from the database; the rest without it
    table = Table("target", "kind", "title", box=None, header_style="bold")
    for t in found:
        table.add_row(t["name"], t["kind"], t["title"])
    console.print(table)


# ------------------------------------------------------------------ chat & demo


@app.command()
def chat(
    message: Annotated[str, typer.Argument(help="what is wrong, in your words")],
    target: Annotated[str | None, typer.Option(help="target (see `firstline targets`)")] = None,
    model: Annotated[str | None, typer.Option(help="litellm model string")] = None,
    session: Annotated[str | None, typer.Option(help="continue this session id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON event per line")] = False,
    yes: Annotated[
        bool, typer.Option("--approve-all", help="approve write actions without asking (careful)")
    ] = False,
    plain: Annotated[
        bool,
        typer.Option(
            "--plain",
            help="print the answer's raw Markdown, no colours (the default when stdout is not a terminal)",
        ),
    ] = False,
) -> None:
    """Investigate in the terminal; the session is stored like the server's (see `firstline serve`)."""
    from cli.chat import run_chat

    settings = load_settings()
    code = asyncio.run(
        run_chat(
            settings,
            message,
            target=target,
            model=model,
            session_id=session,
            as_json=as_json,
            approve_all=yes,
            plain=plain,
        )
    )
    raise typer.Exit(code)


@app.command()
def demo(
    model: Annotated[str | None, typer.Option(help="litellm model string")] = None,
    scenario: Annotated[list[str] | None, typer.Option(help="only these scenario ids")] = None,
) -> None:
    """Investigate every sandbox scenario with the offline model and print what was found."""
    from cli.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(load_settings(), model=model, only=scenario)))


# ------------------------------------------------------------------ server


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="FIRSTLINE_HOST", help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="FIRSTLINE_PORT", min=1, max=65535, help="port")] = 8000,
    insecure: Annotated[
        bool, typer.Option(help="allow a non-loopback bind without FIRSTLINE_AUTH_TOKEN")
    ] = False,
) -> None:
    """Start the web UI and API."""
    from assistant.identity import MIN_TOKEN_CHARS
    from web import serve as serve_web

    settings = load_settings()
    if settings.auth_token and len(settings.auth_token) < MIN_TOKEN_CHARS:
        raise fail(
            f"FIRSTLINE_AUTH_TOKEN is {len(settings.auth_token)} characters; use at least {MIN_TOKEN_CHARS} "
            "random ones (python -c 'import secrets; print(secrets.token_urlsafe(32))'), or named tokens: "
            "firstline users add NAME --role approver"
        )
    if not _is_loopback(host) and not settings.auth_token and not _has_users(settings) and not insecure:
        raise fail(
            f"refusing to listen on {host} without authentication: set FIRSTLINE_AUTH_TOKEN "
            "(a long random secret) or add users (firstline users add NAME --role ROLE), or pass "
            "--insecure if something else protects this port"
        )
    serve_web(settings, host, port)


def _is_loopback(host: str) -> bool:
    """Only an address that parses as loopback, or the name localhost (`127.wild.test` is a name, not 127/8)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _has_users(settings) -> bool:
    from assistant.store import StoreUnavailable, open_store, reading
    from assistant.store.users import active_users

    try:
        with reading(open_store(settings.db_url)) as db:
            return active_users(db) > 0
    except StoreUnavailable:
        return False


# ------------------------------------------------------------------ users


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="who (shown on approvals and in the audit trail)")],
    role: Annotated[str, typer.Option(help="viewer, responder, approver or admin")] = "responder",
) -> None:
    """Add a user; prints their token once (only its hash is stored)."""
    from assistant.store import Conflict, StoreUnavailable, open_store, writing
    from assistant.store.users import add_user

    try:
        with writing(open_store(load_settings().db_url)) as db:
            row, token = add_user(db, name=name, role=role)
    except (ValueError, Conflict, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    err.print(
        f"added {row.name} ({row.role}). Their token, shown only now: send it as "
        "'Authorization: Bearer <token>' or paste it at /login"
    )
    print(token)


@users_app.command("list")
def users_list() -> None:
    """Users, their roles, and whether their token still works."""
    from assistant.store import StoreUnavailable, open_store, reading
    from assistant.store.users import list_users

    try:
        with reading(open_store(load_settings().db_url)) as db:
            rows = list_users(db)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    table = Table("name", "role", "created", "state", box=None, header_style="bold")
    for r in rows:
        table.add_row(
            r.name,
            r.role,
            r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "disabled" if r.disabled_at else "active",
        )
    console.print(table)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="user name")]) -> None:
    """Stop a user's token working (within seconds on running servers); their past decisions keep their name."""
    from assistant.store import NotFound, StoreUnavailable, open_store, writing
    from assistant.store.users import disable_user

    try:
        with writing(open_store(load_settings().db_url)) as db:
            disable_user(db, name=name)
    except (NotFound, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    err.print(f"{name}: disabled")


# ------------------------------------------------------------------ sessions, evals, record, pir


@app.command()
def sessions(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Stored sessions (id, title, target, state, started), newest first."""
    from assistant.store import StoreUnavailable, list_sessions, open_store, reading

    try:
        with reading(open_store(load_settings().db_url)) as db:
            rows = list_sessions(db, limit=limit)
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    if as_json:
        for r in rows:
            print(
                json.dumps(
                    {
                        "id": r.id,
                        "title": r.title,
                        "target": r.target,
                        "state": r.status,
                        "model": r.model,
                        "started": r.created_at.isoformat(),
                    }
                )
            )
        return
    if not rows:
        console.print("no sessions yet: start one with `firstline chat` or `firstline serve`")
        return
    table = Table("id", "title", "target", "state", "started", box=None, header_style="bold")
    for r in rows:
        table.add_row(
            r.id,
            r.title or "[dim](untitled)[/]",
            r.target,
            r.status,
            r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    console.print(table)


@app.command("eval")
def eval_cmd(
    paths: Annotated[list[Path], typer.Argument(help="case files or folders")],
    model: Annotated[list[str] | None, typer.Option("--model", help="models to compare (repeatable)")] = None,
    judge: Annotated[str | None, typer.Option(help="LLM-as-judge model")] = None,
    repeat: Annotated[int, typer.Option(min=1, help="runs per case")] = 1,
    json_path: Annotated[Path | None, typer.Option("--json", help="write details as JSON")] = None,
    junit: Annotated[Path | None, typer.Option(help="write JUnit XML")] = None,
    baseline: Annotated[Path | None, typer.Option(help="a previous --json file; regressions fail")] = None,
    min_pass: Annotated[float, typer.Option(min=0.0, max=1.0, help="fail below this pass rate")] = 0.0,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="worker processes (default: one per core, up to 4)")
    ] = None,
) -> None:
    """Replay recorded incidents against a model and score the answers."""
    from evals.runner import run_cli

    raise typer.Exit(
        run_cli(
            [str(p) for p in paths],
            model or [],
            judge,
            repeat,
            json_path,
            junit,
            baseline,
            min_pass,
            jobs=jobs,
        )
    )


@app.command()
def record(session: Annotated[str, typer.Argument(help="session id")]) -> None:
    """Turn a stored session into an eval case (YAML on stdout)."""
    from evals.record import record_session

    try:
        sys.stdout.write(record_session(load_settings(), session))
    except LookupError as exc:
        raise fail(str(exc)) from None


@app.command()
def pir(
    session: Annotated[str, typer.Argument(help="session id")],
    as_json: Annotated[bool, typer.Option("--json", help="the PIR as data")] = False,
    regenerate: Annotated[bool, typer.Option(help="draft a new version even if one exists")] = False,
) -> None:
    """Draft the post-incident review of a session (Markdown on stdout)."""
    from assistant.pir.render import PirTemplateError
    from assistant.pir.service import pir_for_cli

    try:
        sys.stdout.write(pir_for_cli(load_settings(), session, as_json=as_json, regenerate=regenerate))
    except (LookupError, PirTemplateError) as exc:
        raise fail(str(exc)) from None


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        str | None, typer.Option(help="an anchor (JSON) or a file of them from `audit anchor`")
    ] = None,
) -> None:
    """Check the audit chain (and the approvals it vouches for); names the first entry edited or removed."""
    from cli.audit import verify_cli

    raise typer.Exit(verify_cli(load_settings(), anchor))


@audit_app.command("anchor")
def audit_anchor(
    to: Annotated[
        str | None, typer.Option(help="a file to append to, 'syslog', or an http(s) webhook URL")
    ] = None,
) -> None:
    """Print or send the chain's head (entry count and hash), to keep where the database cannot be rewritten."""
    from cli.audit import anchor_cli

    raise typer.Exit(anchor_cli(load_settings(), to))


@audit_app.command("export")
def audit_export(
    since: Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-11-01T00:00:00Z")] = None,
) -> None:
    """Audit entries as JSON lines, for a SIEM."""
    from cli.audit import export_cli

    raise typer.Exit(export_cli(load_settings(), since))


@turns_app.command("running")
def turns_running() -> None:
    """Running turns, where they run, and how long since their replica renewed its lease."""
    from assistant.store import StoreUnavailable, open_store, reading
    from assistant.store.lease import others_running

    try:
        with reading(open_store(load_settings().db_url)) as db:
            rows = others_running(db, "")
    except StoreUnavailable as exc:
        raise fail(str(exc)) from None
    table = Table("turn", "session", "host", "replica", "lease renewed", box=None, header_style="bold")
    for r in rows:
        table.add_row(
            r.turn_id,
            r.session_id,
            r.host,
            (r.replica or "-")[:8],
            "never" if r.silent_s is None else f"{r.silent_s:.1f} s ago",
        )
    console.print(table if rows else "no running turns")


@turns_app.command("close")
def turns_close(
    turn: Annotated[str, typer.Argument(help="turn id (see `firstline turns running`)")],
    reason: Annotated[
        str, typer.Option(help="why; goes to the session's log and the audit chain")
    ] = "closed by an operator",
    by: Annotated[str | None, typer.Option(help="who closes it (default: cli:<your user name>)")] = None,
) -> None:
    """Force-close a turn stuck `running`: marked interrupted with the reason, audited; its replica, if alive,
    stops writing it at once, and the session takes a new message."""
    import getpass

    from assistant.store import Conflict, NotFound, StoreUnavailable, force_close, open_store, writing

    if not reason.strip():
        raise fail("--reason must not be empty")
    try:
        with writing(open_store(load_settings().db_url)) as db:
            row = force_close(db, turn_id=turn, by=by or f"cli:{getpass.getuser()}", reason=reason.strip())
    except (NotFound, Conflict, StoreUnavailable) as exc:
        raise fail(str(exc)) from None
    console.print(f"turn {row.id} of session {row.session_id}: {row.status} ({reason.strip()})")


def main() -> None:
    app()
