"""`firstline/runbook`: the offline default model, a deterministic runbook reader.

    await think(messages, tools) -> Reply       what the agent loop calls (no litellm involved)
    register()                  make litellm route model "firstline/runbook" here too (idempotent)
    decide(parse(messages, tools)) -> Decision   the reasoning itself

It sees only what any model sees (messages and offered tool schemas), checks the
obvious first, follows the findings hop by hop and answers with root cause, quoted
evidence and a fix that needs approval. It performs a fix only when asked to.
"""

from __future__ import annotations

import threading

from assistant.runbook.conversation import parse
from assistant.runbook.planner import Decision, decide
from assistant.runbook.reply import Reply, reply, think

__all__ = [
    "MODEL",
    "PROVIDER",
    "Decision",
    "Reply",
    "decide",
    "is_runbook",
    "parse",
    "register",
    "reply",
    "think",
]

PROVIDER = "firstline"
MODEL = f"{PROVIDER}/runbook"


def is_runbook(model: str) -> bool:
    """Firstline's own offline model (any `firstline/...` name), answered in-process."""
    return model.startswith(f"{PROVIDER}/")


_lock = threading.Lock()


def register() -> None:
    """Add the `firstline` provider to litellm's custom provider map once; later calls do nothing."""
    import litellm

    from assistant.runbook.provider import RunbookLLM

    with _lock:
        if any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            return
        litellm.custom_provider_map = [
            *litellm.custom_provider_map,
            {"provider": PROVIDER, "custom_handler": RunbookLLM()},
        ]
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
        # Its price (nothing) and window, so litellm's cost lookup after every streamed reply is a direct hit
        # instead of a miss that scans the whole price map (measured: tens of ms per reply under load).
        litellm.register_model(
            {
                MODEL: {
                    "input_cost_per_token": 0.0,
                    "output_cost_per_token": 0.0,
                    "cache_creation_input_token_cost": 0.0,
                    "cache_read_input_token_cost": 0.0,
                    "litellm_provider": PROVIDER,
                    "mode": "chat",
                    "max_input_tokens": 32_768,
                    "max_output_tokens": 4096,
                    "max_tokens": 4096,
                }
            }
        )
