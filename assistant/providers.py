"""Which implementation answers a model string: decided here, once per turn, and carried on its context.

`firstline/*` is our offline model, answered in-process. Anything else goes to litellm: in the server
through the model gateway's child process (so litellm's per-chunk work never takes the server's GIL),
elsewhere (the CLI, `firstline eval`) in-process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.config import Settings
from assistant.model import Model
from assistant.runbook import is_runbook

if TYPE_CHECKING:
    from assistant.gateway import ModelGateway


class Providers:
    """Builds the Model for a name. `offload` (the server): a turn's CPU work (analysis, budgeting, the
    offline model's thinking) goes to threads, so the event loop keeps streaming other sessions; anywhere
    else it runs inline, where a thread hop only costs time."""

    def __init__(
        self, settings: Settings, *, gateway: ModelGateway | None = None, offload: bool = False
    ) -> None:
        self.settings, self.gateway, self.offload = settings, gateway, offload

    def model(self, name: str) -> Model:
        s = self.settings
        if is_runbook(name):
            from assistant.runbook.model import RunbookModel

            return RunbookModel(name, offload=self.offload)
        options = {
            "api_base": s.api_base,
            "timeout_s": s.model_timeout_s,
            "retries": s.model_retries,
            "extra": dict(s.model_options),
        }
        if self.gateway is not None:
            from assistant.gateway import GatewayModel

            return GatewayModel(self.gateway, name, **options)
        from assistant.llm import LiteLLMModel

        return LiteLLMModel(name, **options)
