"""Firstline's settings: environment variables (FIRSTLINE_*) and an optional TOML file.

One typed object reaches every part through the context; nothing reads os.environ
elsewhere (except litellm, which reads provider keys such as OPENAI_API_KEY itself).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.targets.base import TargetConfig

DEFAULT_MODEL = "firstline/runbook"


def default_home() -> Path:
    return Path(os.environ.get("FIRSTLINE_HOME", Path.home() / ".firstline"))


class Policy(BaseModel):
    """What the assistant may do; enforced in the loop, not in each tool."""

    read_only: bool = False
    """Remove write tools entirely: the model never even sees them."""
    target_tools: dict[str, list[str]] = Field(default_factory=dict)
    """Per-target allow-lists: target-name prefix ('sandbox', 'kubernetes:prod') -> tool names."""
    arg_limits: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    """Per-tool argument limits, e.g. {"restart_service": {"service": ["nginx", "app"]}}."""


class NodeSettings(BaseModel):
    """The server's side of `firstline node` (assistant/nodes)."""

    signing_key_file: Path | None = None
    """Ed25519 key that signs approved write calls for nodes (default: node-signing.key under `home`, made on
    first use). Every replica must use the same file; nodes are given its public half at enrolment."""
    approval_ttl_s: int = Field(default=300, ge=10, le=900)
    """How long a signed approval stays valid; the node refuses it afterwards and never accepts it twice."""
    heartbeat_s: float = Field(default=10.0, gt=0.05, le=300)
    """Nodes send a heartbeat this often; a node silent for 3 beats is dropped and its calls fail."""
    call_grace_s: float = Field(default=5.0, ge=0, le=120)
    """Time allowed beyond a tool's own timeout for a node's answer to arrive."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIRSTLINE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    """Any SQLAlchemy URL; default: SQLite file firstline.db under `home`."""
    model: str = DEFAULT_MODEL
    """Any litellm model string, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-sonnet-latest, ollama/llama3.1."""
    api_base: str | None = None
    """For local servers (Ollama, vLLM, llama.cpp): e.g. http://127.0.0.1:11434."""
    models: list[str] = Field(default_factory=list)
    """Extra models offered in the UI's model picker."""
    model_options: dict[str, Any] = Field(default_factory=dict)
    """Extra litellm.acompletion arguments (temperature, num_ctx...), passed through as given."""
    judge_model: str | None = None
    max_steps: int = 10
    max_tool_calls: int = 20
    tool_result_tokens: int = 2000
    """Each tool result is cut to this many tokens (head and tail kept) before the model sees it."""
    context_limit: int | None = None
    """Override the model's context window when litellm does not know it."""
    model_timeout_s: float = 120.0
    model_retries: int = 3
    default_target: str = "sandbox:nginx-port-conflict"
    targets: TargetConfig = Field(default_factory=TargetConfig)
    policy: Policy = Field(default_factory=Policy)
    nodes: NodeSettings = Field(default_factory=NodeSettings)
    auth_token: str | None = None
    allowed_hosts: list[str] = Field(default_factory=list)
    """Names (and `*.example.com` patterns) this server answers to besides loopback and its bind address;
    any other `Host:` header is refused, so a DNS-rebinding web page cannot reach it."""
    pir_template: Path | None = None
    """A team's own Markdown layout for the PIR (Jinja2)."""
    redact_patterns: list[str] = Field(default_factory=list)
    """Extra regexes whose matches are masked in tool output."""
    max_message_chars: int = 20_000
    max_attachment_chars: int = Field(default=200_000, ge=1000)
    """A paste over `max_message_chars` is kept as an attachment (a tool output "pasted by the engineer"),
    head and tail within this many characters. Also bounded by `max_body_bytes`."""
    approval_timeout_s: float = Field(default=1800.0, gt=0)
    """A write action nobody approves or denies within this time expires (recorded, counted as denied)."""
    max_body_bytes: int = 256_000
    max_running_turns: int = Field(default=32, ge=1)
    """Turns on the offline model a server runs at once; more wait (their message is stored and shown at once)
    for a free slot. Its thinking uses the server's own CPU: more at once only slows every stream."""
    max_running_hosted_turns: int = Field(default=256, ge=1)
    """The same for hosted models. They cost the server little (the model gateway's child process parses their
    streams), so far more can run at once; the provider's rate limits are the usual bound."""
    log_format: Literal["auto", "json", "text"] = "auto"
    """`firstline serve`'s logs: one JSON object per line, or uvicorn's text; `auto` is text at a terminal, JSON
    otherwise (containers, systemd)."""

    turn_lease_s: float = Field(default=15.0, gt=0)
    """Turn ownership is a lease (assistant/turns/replica.py): each process renews it every lease/5 s, and a process
    silent for this long loses its running turns; another replica closes them as interrupted, and the next
    message resumes from the stored history."""
    shutdown_grace_s: float = Field(default=25.0, ge=0)
    """On SIGTERM a server stops taking turns and gives running ones this long to finish before it interrupts
    them. Keep it below the orchestrator's kill timeout (Kubernetes: terminationGracePeriodSeconds - 5)."""
    db_pool_size: int = Field(default=10, ge=1)
    """PostgreSQL connections each process keeps open; replicas x (pool + overflow + 2: LISTEN and its relay)
    must stay under the server's max_connections (100 by default)."""
    db_max_overflow: int = Field(default=20, ge=0)
    """Extra PostgreSQL connections a process may open under load, closed again when returned."""
    db_prepared_statements: bool = True
    """PostgreSQL: let psycopg prepare frequent statements server-side. Turn off behind a transaction-mode
    PgBouncer older than 1.21 or without max_prepared_statements."""
    database_listen_url: str | None = None
    """PostgreSQL: where the LISTEN connection goes, when database_url points at a transaction-mode
    PgBouncer (LISTEN needs a session: a direct URL or a session-mode pool). Default: database_url."""
    max_pending_approvals: int = Field(default=64, ge=1)
    """Write actions one server lets wait for a person at once; a turn waiting gives its running slot back,
    and past this many a new request is denied at once (with the reason) instead of parked."""
    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """`firstline serve`: a connection must have sent its whole request head within this long (from connecting,
    or from the end of its previous response), or it is closed with 408. Clients that dribble header bytes
    cannot hold the server's sockets; a stream past its headers is not affected."""
    keepalive_timeout_s: int = Field(default=5, ge=1, le=600)
    """`firstline serve`: an idle keep-alive connection is closed after this long without a new request."""
    max_http_connections: int = Field(default=4096, ge=1)
    """`firstline serve`: open connections (or running requests) past which new requests get 503. Each event
    stream holds one."""

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        from tools.redact import compile_patterns

        compile_patterns(value)  # an invalid regex is a config error naming it, not a weaker redactor
        return value

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'firstline.db'}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from env, then a TOML file (FIRSTLINE_CONFIG or ~/.firstline/config.toml), then overrides."""
    path = config_file or (
        Path(os.environ["FIRSTLINE_CONFIG"]) if os.environ.get("FIRSTLINE_CONFIG") else None
    )
    if path is None:
        candidate = default_home() / "config.toml"
        path = candidate if candidate.exists() else None
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SystemExit(f"firstline: cannot read config file {path}: {exc}") from None
    env_only = Settings()
    merged = {
        **file_values,
        **{k: v for k, v in env_only.model_dump(exclude_unset=True).items()},
        **overrides,
    }
    return Settings(**merged)
