"""`firstline node`: the agent that runs on each host and dials out to a Firstline server.

It opens no port and holds no state that matters: it connects out over WebSocket,
says who it is, and runs the typed tools through the `local` target's own code
(`tools.runner.run_tool` on a `LocalTarget`), inside its own policy. The server
cannot widen that policy: tools it does not allow, paths outside its log roots,
hosts outside its HTTP allow-list and unsigned write calls are refused here.
"""
