"""Services that do not run: failed units and why, broken configuration, permission errors."""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings.base import Call, Observation, analyzer, call, make_finding
from assistant.findings.benign_states import CONDITION_SKIPPED
from assistant.findings.ports import _BIND

_ACTIVE = re.compile(
    r"^\s*Active:\s+(?P<state>failed|activating \(auto-restart\)|inactive \(dead\))(?P<rest>.*)$"
)
_RESULT = re.compile(r"\(Result: (?P<result>[\w-]+)\)")
_UNIT = re.compile(r"^[●×*○↻]?\s*(?P<unit>[\w.@:-]+)\.service\s+-\s")
_EXIT = re.compile(r"\((?:code=(?:exited|killed|dumped)), (?:status|signal)=(?P<status>[^)]+)\)")
_WHY = re.compile(
    r"Failed with result '[^']+'|Start request repeated too quickly|Main process exited, code=\w+, status=\S+|"
    r"killed by the OOM killer|\[emerg\]|\[crit\]|\bFATAL\b|\bpanic:|Traceback|Error:",
    re.IGNORECASE,
)


_COUNTER = re.compile(r"restart counter is at (\d+)")
_START_LIMIT = re.compile(r"Start request repeated too quickly|start-limit-hit", re.IGNORECASE)
_CLEAN_EXIT = re.compile(
    r"status=0/SUCCESS|Deactivated successfully|: Succeeded\.|Finished .+\.$|"
    r"\(code=exited, status=0"
)


def finished_cleanly(obs: Observation, state: str) -> bool:
    """`inactive (dead)` after a run that exited 0 (a oneshot or timer job), with no failure since."""
    return (
        state.startswith("inactive") and bool(obs.grep(_CLEAN_EXIT)) and not obs.grep(r"status=[1-9]|Failed ")
    )


def _unit_name(obs: Observation) -> str | None:
    for ln in obs.lines[:5]:
        m = _UNIT.match(ln.strip())
        if m:
            return m.group("unit")
    svc = obs.args.get("service")
    return str(svc).removesuffix(".service") if svc else None


_LOADED = re.compile(r"^\s*Loaded:\s+(?P<state>masked|not-found|bad-setting|error)\b(?P<rest>.*)$")


@analyzer
def unit_not_loadable(obs: Observation) -> list[Finding]:
    """`Loaded: masked` (linked to /dev/null: it can never start) or `not-found` / `bad-setting`."""
    hit = next(((ln.strip(), m) for ln in obs.lines[:6] if (m := _LOADED.match(ln))), None)
    if hit is None:
        return []
    line, m = hit
    unit = _unit_name(obs)
    words = {
        "masked": "is masked, so it can never be started (its unit file is linked to /dev/null)",
        "not-found": "has no unit file on this host",
        "bad-setting": "has an invalid setting in its unit file",
        "error": "failed to load its unit file",
    }
    fix = {
        "masked": f"systemctl unmask {unit or 'the unit'}, then start it",
        "not-found": "install or name the right unit (see process_list for what actually runs)",
    }
    return [
        make_finding(
            obs,
            "unit-not-loadable",
            f"{unit or 'the unit'} {words[m.group('state')]}",
            [line],
            {"unit": unit, "state": m.group("state")},
            severity="high",
            confidence=0.9,
            remediation=fix.get(m.group("state"), "Fix the unit file, then daemon-reload and start it") + ".",
        )
    ]


_UNMET = re.compile(r"\bCondition\w+=\S+ was not met")


@analyzer
def unit_failed(obs: Observation) -> list[Finding]:
    """`Active: failed (Result: exit-code)` (or crash-restarting / stopped) with the exit status and why."""
    active = next(((ln.strip(), m) for ln in obs.lines if (m := _ACTIVE.match(ln))), None)
    if active is None:
        return []
    line, m = active
    if finished_cleanly(obs, m.group("state")):
        return []  # known-benign: a oneshot/timer unit that ran and exited 0 is `inactive (dead)` by design
    if CONDITION_SKIPPED.holds(obs.output, m.group("state")):
        return []  # known-benign: a timer's unit skipped by its own Condition*= (benign_states)
    state = m.group("state").split()[0]
    state = "auto-restart" if "auto-restart" in m.group("state") else state
    result = _RESULT.search(m.group("rest")) or _RESULT.search(line)
    exits = [
        (ln.strip(), e.group("status"))
        for ln in obs.lines
        if (e := _EXIT.search(ln)) and not re.search(r"status=0/SUCCESS", ln)
    ]
    why = [ln for ln in obs.grep(_WHY) if "systemd[1]: Failed to start" not in ln][:2]
    why += obs.grep(_UNMET)[:1]  # a service skipped by its Condition*= that nothing else will start
    unit = _unit_name(obs)
    words = {
        "failed": "has failed",
        "auto-restart": "keeps crashing and restarting",
        "inactive": "is not running",
    }
    counter = [int(c.group(1)) for ln in obs.lines if (c := _COUNTER.search(ln))]
    limit = obs.grep(_START_LIMIT)[:1]
    why = [*limit, *(w for w in why if w not in limit)][:2]
    facts = {
        "unit": unit,
        "state": state,
        "result": result.group("result") if result else None,
        "exit_status": exits[-1][1] if exits else None,
        "restarts": max(counter) if counter else None,
        "start_limit": bool(limit) or None,
    }
    return [
        make_finding(
            obs,
            "unit-failed",
            f"{unit or 'the service'} {words[state]}"
            + (f" ({facts['result']}, status {facts['exit_status']})" if facts["exit_status"] else ""),
            [line, *(e[0] for e in exits[-1:]), *why],
            facts,
            severity="high" if state != "inactive" else "medium",
            confidence=0.9,
            next_checks=[call("log_tail", source=f"unit:{unit}")] if unit else [],
            fixes=[call("restart_service", service=unit)] if unit else [],
            remediation=f"Fix the cause shown in the log, then {call('restart_service', service=unit)} "
            "(needs approval)."
            if unit
            else None,
            max_lines=5,
        )
    ]


_CONFIG = [
    re.compile(r"\[emerg\]\s*(?P<msg>.*?) in (?P<file>/[\w./@-]+):(?P<line>\d+)"),
    re.compile(r"Syntax error on line (?P<line>\d+) of (?P<file>/[\w./@-]+?):?\s*$"),
    re.compile(r"parsing \[(?P<file>/[^:\]]+):(?P<line>\d+)\]\s*:?\s*(?P<msg>.*)$"),
    re.compile(r"(?P<msg>syntax error) in file \"(?P<file>[^\"]+)\" line (?P<line>\d+)"),
    re.compile(
        r"(?P<msg>(?:unknown directive|invalid|unexpected|syntax error)[^/]*?) (?:in|at) "
        r"(?P<file>/[\w./@-]+):(?P<line>\d+)",
        re.IGNORECASE,
    ),
]
_TEST_FAILED = re.compile(
    r"configuration file \S+ test failed|configuration file \"[^\"]+\" contains errors", re.IGNORECASE
)


@analyzer
def config_test_failed(obs: Observation) -> list[Finding]:
    """`nginx -t` / apachectl / haproxy -c / postgres config errors, with file and line."""
    if not obs.mentions(
        "emerg",
        "syntax",
        "parsing",
        "invalid",
        "unexpected",
        "unknown directive",
        "test failed",
        "contains errors",
    ):
        return []
    hits = []
    for ln in obs.lines:
        for rx in _CONFIG:
            m = rx.search(ln)
            if m:
                hits.append((ln.strip(), m))
                break
    failed = obs.grep(_TEST_FAILED)
    if not hits and (not failed or obs.grep(_BIND)):
        return []
    if not hits:
        return [
            make_finding(
                obs,
                "config-test-failed",
                "configuration test failed",
                failed,
                {"file": None, "line": None},
                severity="high",
                confidence=0.7,
            )
        ]
    line, m = hits[0]
    where = f"{m.group('file')}:{m.group('line')}"
    msg = (m.groupdict().get("msg") or "").strip(' :"') or None
    service = _unit_name(obs)
    fix = call("restart_service", service=service) if service else "restart the service"
    return [
        make_finding(
            obs,
            "config-test-failed",
            f"configuration error at {where}" + (f": {msg}" if msg else ""),
            [line, *failed],
            {"file": m.group("file"), "line": int(m.group("line")), "message": msg, "service": service},
            severity="critical",
            confidence=0.9,
            fixes=[call("restart_service", service=service)] if service else [],
            remediation=f"Correct {where}, re-test the configuration, then {fix} (needs approval).",
        )
    ]


_DENIED_WORD = re.compile(
    r"denied|EACCES|invalid permissions|wrong permissions|insecure permissions", re.IGNORECASE
)
_DENIED = [
    re.compile(r"\"(?P<path>/[^\"]+)\" failed \(13: Permission denied\)"),
    re.compile(r"EACCES: permission denied, \w+ '(?P<path>[^']+)'", re.IGNORECASE),
    re.compile(r"\[Errno 13\] Permission denied: '(?P<path>[^']+)'"),
    re.compile(r"(?<![\w./@-])(?P<path>/[\w./@-]{1,4096})'?: Permission denied"),
    re.compile(r"(?:data )?directory \"(?P<path>/[^\"]+)\" has (?:invalid|wrong|insecure) permissions"),
    re.compile(r"Permission denied|EACCES|\(13: Permission denied\)", re.IGNORECASE),
]


@analyzer
def permission_denied(obs: Observation) -> list[Finding]:
    """EACCES / `Permission denied` on a file or socket, grouped by path."""
    by_path: dict[str | None, list[str]] = {}
    for ln in obs.lines:
        if "publickey" in ln or not _DENIED_WORD.search(ln):
            continue
        for rx in _DENIED:
            m = rx.search(ln)
            if m:
                by_path.setdefault(m.groupdict().get("path"), []).append(ln.strip())
                break
    return [
        make_finding(
            obs,
            "permission-denied",
            f"permission denied on {path or 'a resource'}",
            lines,
            {"path": path},
            severity="high",
            confidence=0.75 if path else 0.6,
            remediation=f"Fix the ownership/permissions of {path or 'the resource'} for the service's user "
            "(outside Firstline's tools), then restart the service.",
            next_checks=_mac_log(obs, lines),
        )
        for path, lines in by_path.items()
    ]


_NET_DENIED = re.compile(r"connect\(\) to \S+ failed \(13: Permission denied\)|connect[^\n]{0,80}EACCES")


def _mac_log(obs: Observation, lines: list[str]) -> list[Call]:
    """A connection refused with EACCES is no file mode: a mandatory access control (SELinux) denial, which the
    audit log records."""
    if obs.args.get("source") == "/var/log/audit/audit.log" or not any(
        _NET_DENIED.search(ln) for ln in lines
    ):
        return []
    return [call("log_tail", source="/var/log/audit/audit.log", grep="avc", lines=200)]


_ENV_FILE = re.compile(
    r"Failed to load environment files: (?P<why>.+)$|Failed to (?:load|read) environment file "
    r"(?P<path>/\S+)|Failed to run '(?:start|start-pre)' task: No such file or directory"
)
_ENV_DECL = re.compile(r"EnvironmentFile=(?!-)(?P<path>/\S+)")


@analyzer
def environment_file_missing(obs: Observation) -> list[Finding]:
    """systemd cannot start a unit because its EnvironmentFile= (without the '-' prefix) is missing."""
    lines = obs.grep(_ENV_FILE)
    if not lines:
        return []
    path = next((m.group("path") for ln in lines if (m := _ENV_FILE.search(ln)) and m.group("path")), None)
    path = path or next((m.group("path") for ln in obs.lines if (m := _ENV_DECL.search(ln))), None)
    unit = _unit_name(obs)
    return [
        make_finding(
            obs,
            "unit-environment-missing",
            f"{unit or 'the unit'} cannot start: its environment file {path or ''} is missing".replace(
                "  ", " "
            ),
            lines,
            {"unit": unit, "path": path},
            severity="critical",
            confidence=0.9,
            fixes=[call("restart_service", service=unit)] if unit else [],
            remediation=f"Restore {path or 'the EnvironmentFile'} (or prefix it with '-' in the unit if it is optional), "
            + (
                f"then {call('restart_service', service=unit)} (needs approval)."
                if unit
                else "then restart the unit."
            ),
        )
    ]


_JOURNAL_UNIT = re.compile(
    r"systemd\[\d+\]: (?:(?P<unit>[\w.@:-]+)\.service: (?P<what>Main process exited, code=\w+, status=(?P<status>\S+)|"
    r"Failed with result '(?P<result>[\w-]+)'|Scheduled restart job, restart counter is at (?P<n>\d+)|"
    r"Start request repeated too quickly|Deactivated successfully|Succeeded)\.?|"
    r"(?P<verb>Started|Failed to start|Starting) (?P<unit2>[\w.@:-]+?)(?:\.service)?(?: - .*)?\.?)\s*$"
)


@analyzer
def unit_failed_in_journal(obs: Observation) -> list[Finding]:
    """The same systemd results read from the unit's journal alone (no `systemctl status` header): exit
    status, result, restart counter and the start limit, for the unit whose journal this is."""
    if re.search(r"^\s*Active:", obs.output, re.MULTILINE) or "systemd[" not in obs.output:
        return []
    wanted = str(obs.args.get("service") or obs.args.get("source") or "").removeprefix("unit:")
    events: list[tuple[str, re.Match[str]]] = []
    for ln in obs.lines:
        m = _JOURNAL_UNIT.search(ln)
        if m and (m.group("unit") or m.group("unit2")) == (wanted or m.group("unit") or m.group("unit2")):
            events.append((ln.strip(), m))
    failures = [
        (ln, m)
        for ln, m in events
        if (m.group("status") and not m.group("status").startswith("0/"))
        or m.group("result")
        or m.group("n")
        or "repeated too quickly" in ln
        or m.group("verb") == "Failed to start"
    ]
    if not failures:
        return []
    last_start = max((i for i, (_, m) in enumerate(events) if m.group("verb") == "Started"), default=-1)
    last_failure = max(i for i, e in enumerate(events) if e in failures)
    unit = next(m.group("unit") or m.group("unit2") for _, m in failures)
    limit = any("repeated too quickly" in ln for ln, _ in failures)
    counter = [int(m.group("n")) for _, m in failures if m.group("n")]
    exits = [m.group("status") for _, m in failures if m.group("status")]
    result = next((m.group("result") for _, m in reversed(failures) if m.group("result")), None)
    gave_up = limit or events[last_failure][1].group("verb") == "Failed to start"
    recovered = last_start > last_failure and not gave_up
    state = "failed" if gave_up else "auto-restart"
    words = "has failed" if gave_up else "keeps crashing and restarting"
    lines = [
        *(ln for ln, m in failures if "repeated too quickly" in ln),
        *(ln for ln, m in failures if m.group("status")),
    ]
    lines += [ln for ln, m in failures if m.group("n")][-1:]
    return [
        make_finding(
            obs,
            "unit-failed",
            f"{unit} {words}"
            + (
                f" (status {exits[-1]}" + (f", restart counter {max(counter)}" if counter else "") + ")"
                if exits
                else ""
            )
            + ("; it was running again at the end of this log" if recovered else ""),
            lines,
            {
                "unit": unit,
                "state": state,
                "result": result,
                "exit_status": exits[-1] if exits else None,
                "restarts": max(counter) if counter else None,
                "start_limit": limit or None,
            },
            severity="medium" if recovered else "high",
            confidence=0.85,
            fixes=[call("restart_service", service=unit)],
            remediation=f"Fix the cause shown in the log, then {call('restart_service', service=unit)} (needs approval).",
            max_lines=4,
        )
    ]


_DEP_MARK = re.compile(r"Dependency failed for (?P<desc>.+?)\.?\s*$|failed with result 'dependency'")
_OTHER_UNIT_FAILED = re.compile(
    r"(?P<unit>[\w@:\\.-]+\.(?:mount|service|socket|device|automount|swap|path|target)): (?:"
    r"Mount process exited[^\n]*|Failed with result '(?!dependency)[\w-]+'|Main process exited, code=\w+, "
    r"status=(?!0/)\S+|Job [\w@:\\.-]+/start failed with result '(?!dependency)[\w-]+'|"
    r"Failed to (?:mount|start)[^\n]*)"
)
_FAILED_TO_MOUNT = re.compile(r"Failed to mount (?P<what>/[^\s.]*(?:\.[^\s.]+)*)")


def _mount_point(unit: str) -> str | None:
    """systemd's mount unit name back to its path (mnt-backup.mount -> /mnt/backup)."""
    if not unit.endswith(".mount"):
        return None
    name = unit.removesuffix(".mount")
    return "/" if name == "-" else "/" + name.replace("-", "/").replace("\\x2d", "-")


@analyzer
def unit_dependency_failed(obs: Observation) -> list[Finding]:
    """A unit that did not start because a unit it depends on failed: systemd's 'Dependency failed for X' /
    "Job X/start failed with result 'dependency'", or a unit's status/journal naming another unit's failure
    (`mnt-backup.mount: Mount process exited`). The failed dependency is the cause; check its status and journal."""
    low = obs.output.lower()
    if "dependency" not in low and not (
        obs.args.get("service") or str(obs.args.get("source", "")).startswith("unit:")
    ):
        return []
    if ("failed" not in low and "exited" not in low) or (
        "dependency" not in low and "mount" not in low and low.count(".service: ") < 1
    ):
        return []
    marks = obs.grep(_DEP_MARK)
    own = (_unit_name(obs) or str(obs.args.get("source") or "").removeprefix("unit:") or "").removesuffix(
        ".service"
    )
    deps: dict[str, str] = {}
    for ln in obs.lines:
        m = _OTHER_UNIT_FAILED.search(ln)
        if m and m.group("unit").removesuffix(".service") != own:
            deps.setdefault(m.group("unit"), ln.strip())
    if not marks and not deps:
        return []
    if not marks and not own:
        return []  # a whole log with unrelated unit failures: unit_failed and friends cover those
    dep = next(iter(deps), None)
    mount = next((m.group("what") for ln in obs.lines if (m := _FAILED_TO_MOUNT.search(ln))), None) or (
        _mount_point(dep) if dep else None
    )
    where = f" (mount point {mount})" if mount and dep and dep.endswith(".mount") else ""
    who = own or "a unit"
    if dep:
        title = f"{who} did not start because the unit it depends on, {dep}{where}, failed"
    else:
        title = f"{who} did not start: a unit it depends on failed ({marks[0][-120:]})"
    checks = (
        [call("service_status", service=dep), call("log_tail", source=f"unit:{dep}", lines=100)]
        if dep
        else [
            call(
                "log_tail",
                source="/var/log/syslog",
                grep="Failed to mount|Mount process exited|Failed with result|Dependency failed",
                lines=200,
            )
        ]
    )
    return [
        make_finding(
            obs,
            "unit-dependency-failed",
            title,
            [*marks[:2], *(list(deps.values())[:2])],
            {"unit": own or None, "dependency": dep, "mount_point": mount},
            severity="high",
            confidence=0.85 if dep else 0.7,
            next_checks=checks,
            remediation=(
                f"Fix {dep} first (its status and journal say why it failed"
                + (
                    "; for a mount: the fstab entry, the server and export it names, `mount -a` to test"
                    if where
                    else ""
                )
                + f"), then start {who} again (restart_service, needs approval)."
                if dep
                else "Find the failed dependency (`systemctl list-dependencies --failed`), fix it, then start the unit again."
            ),
        )
    ]
