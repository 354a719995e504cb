"""A stand-in for a paid model API: an OpenAI-compatible /v1/chat/completions on 127.0.0.1.

Real HTTP, real SSE chunks as OpenAI streams them, at a chosen pace, so server tests can
catch a turn in the middle (disconnect, kill -9, reload). The script is a list of steps;
the step played is the number of assistant messages after the last user message, so a
conversation advances exactly as it would with a provider. A step with a `status` answers with that
HTTP error in OpenAI's error shape.
"""

from __future__ import annotations

import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from background_http import BackgroundHTTP

DEFAULT_SCRIPT: list[dict[str, Any]] = [
    {"text": "Let me check nginx on web-prod-01 first.", "calls": [("service_status", {"service": "nginx"})]},
    {"text": "nginx failed to bind port 80; who holds it?", "calls": [("port_owner", {"port": 80})]},
    {
        "text": "**Root cause**: an orphaned `node` process holds port 80, so nginx cannot bind.\n\n"
        "**Evidence**\n- `systemctl status nginx`: bind() to 0.0.0.0:80 failed (98: Address already in use)\n"
        "- `ss -ltnp`: node holds :80\n\n**Suggested fix**\n1. `kill_process` the orphan (needs approval)\n"
        "2. `restart_service nginx`\n\nNote: raw HTML stays text: <script>window.__pwned=1</script> "
        '<img src=x onerror="window.__pwned=2">'
    },
]


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a cancelled turn, a closed keep-alive connection) is not an error here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeOpenAI(BackgroundHTTP):
    def __init__(
        self, script: list[dict[str, Any]] | None = None, delay_s: float = 0.05, whole_text: str | None = None
    ) -> None:
        """`whole_text`: what every request that does not stream gets (an LLM judge's verdict), instead of
        the script's step."""
        self.script = script or DEFAULT_SCRIPT
        self.delay_s = delay_s
        self.whole_text = whole_text
        self.requests: list[dict[str, Any]] = []
        super().__init__(_QuietServer(("127.0.0.1", 0), self._handler()))

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def step_for(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=0)
        n = sum(1 for m in messages[last_user:] if m.get("role") == "assistant")
        return self.script[min(n, len(self.script) - 1)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                fake.requests.append(body)
                step = fake.step_for(body.get("messages", []))
                if "status" in step:
                    self._error(step)
                elif body.get("stream"):
                    self._stream(body, step)
                else:
                    self._whole(body, step if fake.whole_text is None else {"text": fake.whole_text})

            def _chunk(
                self, body: dict, delta: dict, finish: str | None = None, usage: dict | None = None
            ) -> bytes:
                obj = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                if usage is not None:
                    obj["usage"] = usage
                return b"data: " + json.dumps(obj).encode() + b"\n\n"

            def _send(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _stream(self, body: dict, step: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    self._send(self._chunk(body, {"role": "assistant", "content": ""}))
                    for word in _words(step.get("text", "")):
                        time.sleep(fake.delay_s)
                        self._send(self._chunk(body, {"content": word}))
                    calls = step.get("calls") or []
                    for i, (name, args) in enumerate(calls):
                        time.sleep(fake.delay_s)
                        self._send(
                            self._chunk(
                                body,
                                {
                                    "tool_calls": [
                                        {
                                            "index": i,
                                            "id": f"call_{i}_{int(time.time() * 1000)}",
                                            "type": "function",
                                            "function": {"name": name, "arguments": json.dumps(args)},
                                        }
                                    ]
                                },
                            )
                        )
                    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
                    self._send(self._chunk(body, {}, "tool_calls" if calls else "stop", usage))
                    self._send(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _error(self, step: dict) -> None:
                """An error as OpenAI sends it (e.g. 401 invalid_api_key, 429 rate_limit_exceeded)."""
                data = json.dumps(
                    {
                        "error": {
                            "message": step.get("text", "error"),
                            "type": step.get("type"),
                            "code": step.get("code"),
                            "param": None,
                        }
                    }
                ).encode()
                self.send_response(step["status"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _whole(self, body: dict, step: dict) -> None:
                calls = [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": n, "arguments": json.dumps(a)},
                    }
                    for i, (n, a) in enumerate(step.get("calls") or [])
                ]
                msg = {
                    "role": "assistant",
                    "content": step.get("text", ""),
                    **({"tool_calls": calls} if calls else {}),
                }
                data = json.dumps(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}
                        ],
                        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def model_env(fake: FakeOpenAI) -> dict[str, str]:
    """Environment that points a Firstline server process at the fake provider."""
    return {
        "FIRSTLINE_MODEL": "openai/fake-sre",
        "FIRSTLINE_API_BASE": fake.api_base,
        "OPENAI_API_KEY": "sk-fake",
        "FIRSTLINE_MODEL_RETRIES": "0",
    }
