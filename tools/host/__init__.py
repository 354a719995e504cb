"""Gathering host facts on this machine for the `local` target.

Each module has one job: running argv safely (proc), reading logs inside the allowed
roots (logs), psutil facts (gather, services), and network probes (net). Rendering
lives in `tools.render_host`, shared with the sandbox.
"""
