"""No shell, anywhere: an AST scan of every module Firstline ships.

Fails on `shell=True`, `os.system`, `os.popen`, the `*_shell` subprocess APIs, the
shell-backed `subprocess.getoutput`/`getstatusoutput`, and any process-spawning call
whose command is a string rather than an argv list. The scanner is tested against
known-bad snippets first, so a broken scanner cannot pass silently.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["assistant", "tools", "web", "evals", "cli", "bench"]

SHELL_APIS = {
    "os.system",
    "os.popen",
    "os.spawnlp",
    "os.spawnvp",
    "subprocess.getoutput",
    "subprocess.getstatusoutput",
    "asyncio.create_subprocess_shell",
    "create_subprocess_shell",
    "subprocess_shell",
    "commands.getoutput",
    "pty.spawn",
}
COMMAND_APIS = {
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
}
"""Take the whole command as their first argument: a string there is a command line."""
PROGRAM_APIS = {
    "asyncio.create_subprocess_exec",
    "os.execv",
    "os.execvp",
    "os.execl",
    "os.execlp",
    "os.spawnv",
    "os.spawnl",
    "os.posix_spawn",
    "os.posix_spawnp",
}
"""Take the program first: a plain name is fine, a built-up or spaced string is a command line."""
REMOTE_APIS = {"create_process"}
"""asyncssh: the command goes to the remote login shell, so it must come from `remote_command(argv)`
(tools/targets/ssh_link.py), which quotes every word with shlex.join."""


def _dotted(node: ast.AST) -> str:
    """`a.b.c` for a Name/Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _is_string_expr(node: ast.AST) -> bool:
    """A literal, f-string, `%`/`+` of strings, or `.format(...)`: a command line, not an argv."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _is_string_expr(node.left) or _is_string_expr(node.right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
    ):
        return (
            isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
            and node.func.attr == "format"
        ) or _dotted(node.func) == "shlex.join"
    return False


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local names bound by imports -> what they are (`from os import system`, `import subprocess as sp`)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            out.update({a.asname: a.name for a in node.names if a.asname})
    return out


def _resolve(dotted: str, aliases: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    head = aliases.get(head, head)
    return f"{head}.{rest}" if rest else head


def _remote_problem(node: ast.Call) -> str | None:
    """An SSH command that is not `remote_command(...)` built from an argv list, or a command line to `.run()`."""
    attr = node.func.attr if isinstance(node.func, ast.Attribute) else ""
    first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "command"), None)
    if attr in REMOTE_APIS and first is not None:
        built = isinstance(first, ast.Call) and _dotted(first.func).rsplit(".", 1)[-1] == "remote_command"
        return None if built else f".{attr}() with a command not built by remote_command(argv)"
    if (
        attr == "run"
        and first is not None
        and _is_string_expr(first)
        and _dotted(node.func) != "subprocess.run"
    ):
        return ".run() with a command line"
    return None


def _call_problem(node: ast.Call, aliases: dict[str, str]) -> str | None:
    if problem := _remote_problem(node):
        return problem
    name = _dotted(node.func)
    full = _resolve(name, aliases)
    for kw in node.keywords:
        if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
            return f"{full or 'call'}(shell=...)"
    first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
    if first is None or not _is_string_expr(first):
        return None
    if full in COMMAND_APIS:
        return f"{full}() with a string command"
    spaced = (
        isinstance(first, ast.Constant)
        and isinstance(first.value, str)
        and any(c.isspace() for c in first.value)
    )
    if full in PROGRAM_APIS and (spaced or not isinstance(first, ast.Constant)):
        return f"{full}() with a command line as the program"
    return None


def scan_source(source: str, filename: str = "<string>") -> list[str]:
    """Every shell use in `source`, as `file:line: what`."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    problems = []
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute | ast.Name):
            full = _resolve(_dotted(node), aliases)
            if full in SHELL_APIS or (
                isinstance(node, ast.Attribute)
                and node.attr in ("create_subprocess_shell", "subprocess_shell")
            ):
                problems.append(f"{where}: {full or node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            problems += [
                f"{where}: from {node.module} import {a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in SHELL_APIS
            ]
        elif isinstance(node, ast.Call) and (problem := _call_problem(node, aliases)):
            problems.append(f"{where}: {problem}")
    return sorted(set(problems))


BAD = [
    "import subprocess\nsubprocess.run('ls -l', shell=True)",
    "import subprocess\nsubprocess.run(['ls'], shell=True)",
    "import subprocess\nflag = True\nsubprocess.Popen(['ls'], shell=flag)",
    "import subprocess\nsubprocess.check_output('uptime')",
    "import subprocess\nsubprocess.call(f'kill {pid}')",
    "import subprocess\nsubprocess.run(args='df -h')",
    "import subprocess\nsubprocess.run('ps %s' % x)",
    "import subprocess\nsubprocess.run('ps ' + x)",
    "import subprocess\nsubprocess.run('systemctl status {}'.format(x))",
    "import subprocess\nsubprocess.getoutput('id')",
    "from subprocess import Popen\nPopen('ls')",
    "from subprocess import check_output as co\nco('ls')",
    "import os\nos.system('reboot')",
    "import os\nos.popen('ls').read()",
    "from os import system\nsystem('ls')",
    "from os import popen as p\np('ls')",
    "import asyncio\nasync def f():\n    await asyncio.create_subprocess_shell('ls')",
    "import asyncio\nasync def f(loop):\n    await loop.subprocess_shell(proto, 'ls')",
    "from asyncio import create_subprocess_shell",
    "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('ls -l /')",
    "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec(f'ss -ltnp sport = :{p}')",
    "import shlex, subprocess\nsubprocess.run(shlex.join(argv))",
    "import os\nrunner = os.system",
    "import subprocess as sp\nsp.run('ls -l')",
    "import os as o\no.popen('ls')",
    "async def f(conn, argv):\n    await conn.create_process(shlex.join(argv))",
    "async def f(conn, cmd):\n    await conn.create_process(cmd, stderr=STDOUT)",
    "async def f(conn, unit):\n    await conn.run(f'systemctl status {unit}')",
]
GOOD = [
    "import subprocess\nsubprocess.run(['ls', '-l'], shell=False, check=True)",
    "import subprocess\nsubprocess.run(['ps', 'aux'])",
    "import asyncio\nasync def f(argv):\n    await asyncio.create_subprocess_exec(*argv)",
    "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('systemctl', 'status', 'nginx')",
    "import shlex\ncommand = shlex.join(['ss', '-ltnp'])",
    "import re\nre.compile('run this')\n'x'.format(1)",
    "def run(cmd):\n    return cmd\nrun('ls -l')",
    "async def f(conn, argv):\n    await conn.create_process(remote_command(argv, 5), stderr=STDOUT)",
    "import asyncio\nasyncio.run(main())",
]


@pytest.mark.parametrize("source", BAD)
def test_scanner_catches_shell_use(source):
    assert scan_source(source), source


@pytest.mark.parametrize("source", GOOD)
def test_scanner_allows_argv_lists(source):
    assert scan_source(source) == []


def test_no_shell_in_firstline_sources():
    files = [p for d in SCANNED if (ROOT / d).is_dir() for p in sorted((ROOT / d).rglob("*.py"))]
    assert any(p.name == "local.py" for p in files) and len(files) > 10
    problems = []
    for path in files:
        problems += scan_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == [], "shell use found:\n" + "\n".join(problems)
