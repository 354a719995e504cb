"""The fix an engineer applies by hand: exact commands, how to verify, how to undo.

Used when no write tool fits (truncating a log, raising a limit in a unit override, editing
a config) and when a write action was denied: the answer then still says what to do. Each
fix is built from the finding's own facts (path, unit, pod, namespace); nothing is guessed
that the evidence does not name; a value the engineer must choose is written <LIKE_THIS>.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.events import Finding
from assistant.findings.k8s_text import deployment_of


@dataclass
class ManualFix:
    what: str
    run: list[str]
    verify: list[str]
    undo: list[str] = field(default_factory=list)
    undo_note: str = ""

    def markdown(self, title: str = "**Do it by hand**") -> str:
        parts = [
            f"{title} — {self.what}",
            "",
            "```sh",
            *self.run,
            "```",
            "",
            "Verify:",
            "",
            "```sh",
            *self.verify,
            "```",
        ]
        if self.undo:
            parts += ["", "Undo:", "", "```sh", *self.undo, "```"]
        if self.undo_note:
            parts += ["", f"Undo: {self.undo_note}"]
        return "\n".join(parts)


def _ns(f: Finding) -> str:
    return str(f.facts.get("namespace") or "default")


def _deploy(f: Finding) -> str:
    pod = str(f.facts.get("pod") or "")
    return str(f.facts.get("deployment") or deployment_of(pod) or pod or "<DEPLOYMENT>")


def _unit(f: Finding) -> str:
    return str(f.facts.get("unit") or f.facts.get("service") or f.facts.get("program") or "<UNIT>")


def _disk(f: Finding) -> ManualFix | None:
    path, mount = f.facts.get("path"), f.facts.get("mount") or "/"
    if not path or (not str(path).endswith((".log", ".out", ".err")) and "/log" not in str(path)):
        return ManualFix(
            f"free space on {mount}: find what grew, then remove or move it",
            [f"sudo du -xh --max-depth=2 {mount} | sort -h | tail -n 15"],
            [f"df -h {mount}; df -i {mount}"],
            undo_note="deleting files cannot be undone: move them to another disk first if unsure.",
        )
    keep = f"/root/{str(path).rsplit('/', 1)[-1]}.tail"
    return ManualFix(
        f"truncate {path} (keep its last lines first), then rotate it",
        [
            f"sudo tail -n 10000 {path} > {keep}",
            f"sudo truncate -s 0 {path}",
            "sudo logrotate --force /etc/logrotate.conf",
        ],
        [f"df -h {mount}", f"ls -lh {path}"],
        undo_note=f"truncation cannot be undone; the last 10000 lines are kept in {keep}.",
    )


def _fd(f: Finding) -> ManualFix:
    unit = _unit(f)
    return ManualFix(
        f"raise {unit}'s open-file limit in a unit override, then restart it",
        [
            f"sudo mkdir -p /etc/systemd/system/{unit}.service.d",
            f"printf '[Service]\\nLimitNOFILE=65536\\n' | sudo tee /etc/systemd/system/{unit}.service.d/limits.conf",
            f"sudo systemctl daemon-reload && sudo systemctl restart {unit}",
        ],
        [f"grep 'open files' /proc/$(systemctl show -p MainPID --value {unit})/limits"],
        [
            f"sudo rm /etc/systemd/system/{unit}.service.d/limits.conf",
            f"sudo systemctl daemon-reload && sudo systemctl restart {unit}",
        ],
    )


def _config(f: Finding) -> ManualFix:
    unit = _unit(f)
    where = f.facts.get("file") or f.facts.get("path") or "the file and line the error names"
    test = (
        "sudo nginx -t"
        if "nginx" in unit
        else "sudo apachectl configtest"
        if "apache" in unit
        else f"sudo systemctl reload-or-restart {unit} --dry-run"
    )
    return ManualFix(
        f"correct {where}, test the configuration, then reload {unit}",
        [
            f"sudo cp -a {where} {where}.bak" if f.facts.get("file") else f"# edit {where}",
            test,
            f"sudo systemctl reload {unit}",
        ],
        [test, f"systemctl status {unit} --no-pager"],
        [f"sudo cp -a {where}.bak {where} && sudo systemctl reload {unit}"] if f.facts.get("file") else [],
        "" if f.facts.get("file") else "restore the file from your configuration management or backup.",
    )


def _oom(f: Finding) -> ManualFix:
    if not f.facts.get("pod") and not f.facts.get("container"):
        return _host_oom(f)
    ns, dep = _ns(f), _deploy(f)
    container = f.facts.get("container") or dep
    return ManualFix(
        f"raise {container}'s memory limit (pick a value above its measured peak)",
        [f"kubectl -n {ns} set resources deployment/{dep} -c {container} --limits=memory=<NEW_LIMIT>"],
        [f"kubectl -n {ns} rollout status deployment/{dep}", f"kubectl -n {ns} get pods"],
        [f"kubectl -n {ns} rollout undo deployment/{dep}"],
    )


def _host_oom(f: Finding) -> ManualFix:
    """The kernel's OOM killer on a host: a unit's cgroup limit is raised with systemd; a host out of memory
    needs the process that grew found first (the victim is often not the one that grew)."""
    unit = f.facts.get("unit")
    if unit and f.facts.get("cgroup"):
        return ManualFix(
            f"raise {unit}'s memory limit (MemoryMax; pick a value above its measured peak)",
            [
                f"systemctl show {unit} -p MemoryMax -p MemoryPeak",
                f"sudo systemctl set-property {unit} MemoryMax=<NEW_LIMIT>",
            ],
            [f"systemctl show {unit} -p MemoryMax", f"systemctl status {unit} --no-pager"],
            [f"sudo systemctl revert {unit} && sudo systemctl daemon-reload"],
        )
    who = f.facts.get("process") or "the killed process"
    return ManualFix(
        f"find what used the memory when {who} was killed, stop or limit it, then start {who} again",
        [
            "journalctl -k --no-pager | grep -iE 'out of memory|oom-kill|killed process'",
            "ps -eo pid,user,rss,etime,args --sort=-rss | head -15",
            *([f"sudo systemctl restart {unit}"] if unit else []),
        ],
        ["free -m", *([f"systemctl status {unit} --no-pager"] if unit else [])],
    )


def _workload(f: Finding) -> str:
    """`deployment/NAME`, or `statefulset/NAME` for a StatefulSet's pod (db-0: an ordinal, no hash)."""
    pod = str(f.facts.get("pod") or "")
    ordinal = re.fullmatch(r"([a-z0-9][a-z0-9-]*)-\d+", pod)
    if not f.facts.get("deployment") and not deployment_of(pod) and ordinal:
        return f"statefulset/{ordinal.group(1)}"
    return f"deployment/{_deploy(f)}"


def _rollback(f: Finding) -> ManualFix:
    ns, owner = _ns(f), _workload(f)
    return ManualFix(
        f"roll {owner} back to its previous revision",
        [
            f"kubectl -n {ns} rollout history {owner}",
            f"kubectl -n {ns} rollout undo {owner}",
        ],
        [f"kubectl -n {ns} rollout status {owner}", f"kubectl -n {ns} get pods"],
        [f"kubectl -n {ns} rollout undo {owner}"],
    )


def _port(f: Finding) -> ManualFix | None:
    pid, port = f.facts.get("pid"), f.facts.get("port")
    if not pid:
        return None
    svc = f.facts.get("service") or "<SERVICE>"
    cmd = f.facts.get("cmdline")
    return ManualFix(
        f"stop pid {pid} that holds port {port}, then start {svc}",
        [f"sudo kill -TERM {pid}", f"sudo systemctl start {svc}"],
        [f"ss -ltnp 'sport = :{port}'", f"systemctl status {svc} --no-pager"],
        [f"sudo systemctl stop {svc}"] + ([f"sudo {cmd} &"] if cmd else []),
    )


def _restart_unit(f: Finding) -> ManualFix:
    unit = _unit(f)
    return ManualFix(
        f"read why {unit} failed, fix that, then start it again",
        [f"journalctl -u {unit} -n 50 --no-pager", f"sudo systemctl restart {unit}"],
        [f"systemctl status {unit} --no-pager"],
        [f"sudo systemctl stop {unit}"],
    )


BY_SIGNATURE: dict[str, Callable[[Finding], ManualFix | None]] = {
    "disk-full": _disk,
    "fd-exhausted": _fd,
    "config-test-failed": _config,
    "oom-killed": _oom,
    "image-pull-failed": _rollback,
    "crash-loop": _rollback,
    "missing-config": _rollback,
    "port-in-use": _port,
    "unit-failed": _restart_unit,
    "unit-environment-missing": _restart_unit,
}


def _best(f: Finding, others: list[Finding]) -> Finding:
    """Of the findings of this kind, the one naming the most (a log file over a mount over a temp file)."""
    same = [f] + [o for o in others if o.signature == f.signature and o is not f]
    logs = [o for o in same if str(o.facts.get("path") or "").endswith((".log", ".out", ".err"))]
    mounts = [o for o in same if o.facts.get("mount")]
    pick = (logs or mounts or [f])[0]
    if pick.facts.get("path") and not pick.facts.get("mount") and mounts:
        return pick.model_copy(update={"facts": {**pick.facts, "mount": mounts[0].facts["mount"]}})
    return pick


def for_finding(f: Finding | None, others: list[Finding] | None = None) -> ManualFix | None:
    """The by-hand fix for this kind of failure, when one is known (`others`: the session's other findings)."""
    fn = BY_SIGNATURE.get(f.signature) if f is not None else None
    return fn(_best(f, others or [])) if fn and f is not None else None


def for_write(tool: str, args: dict[str, Any]) -> ManualFix | None:
    """What a write tool would have done, as commands the engineer can run (after a denial)."""
    ns, dep, svc, pid = (
        args.get("namespace", "default"),
        args.get("deployment"),
        args.get("service"),
        args.get("pid"),
    )
    if tool == "restart_service" and svc:
        return ManualFix(
            f"restart {svc}",
            [f"sudo systemctl restart {svc}"],
            [f"systemctl status {svc} --no-pager"],
            undo_note="a restart cannot be undone; `sudo systemctl stop " + str(svc) + "` stops it again.",
        )
    if tool == "kill_process" and pid:
        sig = str(args.get("signal") or "TERM").removeprefix("SIG")
        return ManualFix(
            f"send SIG{sig} to pid {pid}",
            [f"sudo kill -{sig} {pid}"],
            [f"ps -p {pid} -o pid,cmd"],
            undo_note="a stopped process must be started again from its own command line.",
        )
    if tool == "rollout_restart" and dep:
        return ManualFix(
            f"restart deployment/{dep}'s pods",
            [f"kubectl -n {ns} rollout restart deployment/{dep}"],
            [f"kubectl -n {ns} rollout status deployment/{dep}"],
            [f"kubectl -n {ns} rollout undo deployment/{dep}"],
        )
    if tool == "rollout_undo" and dep:
        return ManualFix(
            f"roll deployment/{dep} back",
            [f"kubectl -n {ns} rollout undo deployment/{dep}"],
            [f"kubectl -n {ns} rollout status deployment/{dep}"],
            [f"kubectl -n {ns} rollout undo deployment/{dep}"],
        )
    return None
