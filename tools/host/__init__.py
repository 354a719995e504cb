"""Host facts: how the `local` and `ssh:` targets look at a machine.

Each module has one job: running argv safely (proc), reading logs inside the allowed
roots (logs), psutil facts on this machine (gather, services), network probes (net),
the argv templates run where a command is the only way to ask (argv), reading their
output back (parse), and the systemd paths both targets share (systemd). Rendering
lives in `tools.render_host`, shared with the sandbox.
"""
