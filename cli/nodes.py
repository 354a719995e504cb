"""`firstline node ...` and `firstline nodes`: enrol and revoke nodes on the server, run the agent on a host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

node_app = typer.Typer(help="Enrol, revoke and run nodes (the agent on each host).", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]firstline:[/] {message}")
    return typer.Exit(code)


def _engine():
    from assistant.config import load_settings
    from assistant.store import StoreUnavailable, open_store

    settings = load_settings()
    try:
        return settings, open_store(settings.db_url)
    except StoreUnavailable as exc:
        raise _fail(str(exc)) from None


@node_app.command("enroll")
def enroll(
    name: Annotated[str, typer.Argument(help="the node's name, e.g. web-01")],
    label: Annotated[
        list[str] | None, typer.Option("--label", help="key=value (repeatable), e.g. role=web")
    ] = None,
    server: Annotated[str, typer.Option(help="URL the node connects to")] = "http://127.0.0.1:8000",
    config_out: Annotated[
        Path | None, typer.Option("--config-out", help="write the host's node.toml here (0600)")
    ] = None,
) -> None:
    """Create a node token (shown once, stored as a hash) and print the host's configuration."""
    from assistant import store
    from assistant.nodes import registry
    from assistant.nodes.signing import public_key

    try:
        labels = registry.parse_labels(label or [])
        registry.check_name(name)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings, engine = _engine()
    with store.writing(engine) as db:
        token = registry.enroll(db, name=name, labels=labels).token
    text = registry.node_config_text(server, name, token, public_key(settings), labels)
    if config_out is not None:
        config_out.touch(mode=0o600)
        config_out.write_text(text)
        console.print(f"wrote {config_out}; copy it to the host as /etc/firstline/node.toml (mode 0600)")
    else:
        print(text, end="")
    err.print(
        "[dim]the token is shown only now; on the host: firstline node run --config /etc/firstline/node.toml[/]"
    )


@node_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="node name")]) -> None:
    """Refuse the node's token from now on; its connection is closed at once."""
    from assistant import store
    from assistant.nodes import registry
    from assistant.nodes.relay import announce_revoked

    _settings, engine = _engine()
    try:
        with store.writing(engine) as db:
            registry.revoke(db, name=name)
    except store.NotFound as exc:
        raise _fail(str(exc)) from None
    announce_revoked(engine, name)
    console.print(f"revoked {name}")


@node_app.command("key")
def key() -> None:
    """The server's approval-signing public key (server_key in a node's configuration)."""
    from assistant.config import load_settings
    from assistant.nodes.signing import public_key

    print(public_key(load_settings()))


@node_app.command("run")
def run(
    config: Annotated[Path | None, typer.Option(help="node.toml (see `firstline node enroll`)")] = None,
    server: Annotated[str | None, typer.Option(help="server URL, e.g. https://firstline.example.com")] = None,
    token: Annotated[str | None, typer.Option(help="node token (or FIRSTLINE_NODE_TOKEN)")] = None,
    name: Annotated[str | None, typer.Option(help="this node's enrolled name")] = None,
    server_key: Annotated[str | None, typer.Option(help="the server's signing key (base64)")] = None,
) -> None:
    """Run the agent on this host: connect out, register, run the allowed tools; exit 3 if the token is refused."""
    from tools.node.agent import main_sync
    from tools.node.config import NodeConfigError, load_node_config

    try:
        cfg = load_node_config(config, server=server, token=token, name=name, server_key=server_key)
    except NodeConfigError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(main_sync(cfg))


def nodes_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Enrolled nodes: connected, last seen, labels, facts, version."""
    from assistant import store
    from assistant.nodes import registry

    _settings, engine = _engine()
    with store.reading(engine) as db:
        rows = [registry.node_json(r) for r in registry.list_nodes(db, include_revoked=True)]
    if as_json:
        for r in rows:
            print(json.dumps(r))
        return
    if not rows:
        console.print("no nodes yet: enrol one with `firstline node enroll NAME --label role=web`")
        return
    table = Table(
        "node",
        "state",
        "last seen",
        "labels",
        "os",
        "kernel",
        "systemd",
        "version",
        box=None,
        header_style="bold",
    )
    for r in rows:
        f = r["facts"]
        table.add_row(
            r["name"],
            "[green]connected[/]" if r["connected"] else "[red]revoked[/]" if r["revoked"] else "offline",
            (r["last_seen"] or "never")[:19],
            ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items())),
            str(f.get("os", "")),
            str(f.get("kernel", "")),
            "yes" if f.get("systemd") else "no" if f else "",
            r["version"],
        )
    console.print(table)
