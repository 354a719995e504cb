"""uvicorn with a drain in front of its shutdown: what a rolling update needs.

On the first SIGTERM (or SIGINT) the app drains first (`Runtime.request_drain`): new messages
get 503 with Retry-After, running turns get `shutdown_grace_s` to finish (then are interrupted
with a reason that says so), and each event stream ends cleanly, with a `retry:` hint, once its
session's turn is done here; only then does uvicorn's own shutdown run. A second signal skips
the wait.
"""

from __future__ import annotations

from types import FrameType

import uvicorn

from web.runtime import Runtime


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._signalled = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._signalled or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self._signalled = True
        self.runtime.request_drain(lambda: super(DrainingServer, self).handle_exit(sig, frame))
