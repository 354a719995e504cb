"""Printing a turn's events in a terminal: text as it arrives, one line per tool call, findings last.

Three ways to print the answer: rendered Markdown (`markdown=True`: a terminal, the default there),
the raw Markdown as it streams (a pipe, or `--plain`), or one JSON event per line (`--json`).
"""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

from assistant.events import Event, EventType


class EventPrinter:
    """Consumes events exactly as the server and the eval runner do; only the output differs."""

    def __init__(self, console: Console | None = None, as_json: bool = False, markdown: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.as_json = as_json
        self.markdown = markdown
        """Render the final answer as Markdown (headings, bold, code) instead of streaming its raw text."""
        self.findings: list = []
        self._streaming = False
        self._pending = ""

    def __call__(self, event: Event) -> None:
        if self.as_json:
            sys.stdout.write(json.dumps(event.to_json(), default=str) + "\n")
            sys.stdout.flush()
            return
        handler = getattr(self, "_" + event.type.value, None)
        if handler:
            handler(event.data)

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def _token(self, d) -> None:
        if self.markdown:  # held until we know whether it is a step's narration or the answer
            self._pending += d.text
            return
        self._streaming = True
        self.console.print(escape(d.text), end="", soft_wrap=True)

    def _narration(self) -> None:
        """Text before a tool call says what is being checked: shown dim, as plain text."""
        if self._pending.strip():
            self.console.print(f"[dim]{escape(self._pending.strip())}[/]")
        self._pending = ""

    def _tool_call(self, d) -> None:
        self._end_stream()
        self._narration()
        risk = " [bold red](write)[/]" if d.risk == "write" else ""
        self.console.print(
            f"[cyan]→[/] [bold]{escape(d.command or d.tool)}[/]{risk} [dim]@ {escape(d.target)}[/]"
        )

    def _tool_result(self, d) -> None:
        status = (
            "[green]ok[/]"
            if d.ok
            else (f"[red]exit {d.exit_code}[/]" if d.exit_code is not None else "[red]error[/]")
        )
        extra = " [dim](cached)[/]" if d.cached else ""
        note = f" — {escape(d.error[:160])}" if d.error else ""
        self.console.print(f"  [dim]←[/] {d.tool} {status} [dim]{d.duration_ms:.0f} ms[/]{extra}{note}")

    def _finding(self, d) -> None:
        self.findings.append(d)

    def _finding_resolved(self, d) -> None:
        self._end_stream()
        self.console.print(
            f"[bold green]✓ {d.finding_id} resolved[/]: {escape(d.title)} [dim](verified by "
            f"{escape(d.verify_command)} after {escape(d.fix_command)})[/]"
        )

    def _approval_required(self, d) -> None:
        self._end_stream()
        self.console.print(f"[bold yellow]! approval needed[/] {escape(d.command)} on {escape(d.target)}")

    def _approval_decided(self, d) -> None:
        self.console.print(f"  [dim]approval {d.decision} by {escape(d.by)}[/]")

    def _message(self, d) -> None:
        self._end_stream()
        if self.markdown:
            self._pending = ""
            self.console.print()
            self.console.print(Markdown(d.text or "", hyperlinks=False))
            self.console.print()

    def _error(self, d) -> None:
        self._end_stream()
        self._narration()
        hint = f"\n  {escape(d.hint)}" if d.hint else ""
        self.console.print(f"[bold red]error:[/] {escape(d.message)}{hint}")

    def _turn_finished(self, d) -> None:
        self._end_stream()
        self._narration()
        for f in self.findings:
            self.console.print(f"[bold magenta]finding {f.finding_id}[/] [{f.severity}] {escape(f.title)}")
            for ev in f.evidence:
                for line in ev.lines[:3]:
                    self.console.print(f"    [dim]{escape(ev.command or ev.tool)}:[/] {escape(line.strip())}")
        self.findings.clear()
        cost = f", ${d.cost_usd:.4f}" if d.cost_usd else ""
        self.console.print(
            f"[dim]— {d.status}: {d.steps} steps, {d.tool_calls} tool calls, "
            f"{d.prompt_tokens}+{d.completion_tokens} tokens{cost}, {d.wall_ms / 1000:.1f} s[/]"
        )


def is_final(event: Event) -> bool:
    return event.type is EventType.TURN_FINISHED
