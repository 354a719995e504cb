"""Generic evidence: any failure an output states in plain words, with or without a specific signature.

Error-level log lines grouped by message shape (count, first and last time), and the
leads they name (a host:port, a URL, a DNS name, a unit) as the next checks. The
specific analyzers give precise wording; this one guarantees that a failure written
in the output is never reported as "nothing found".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.events import Finding
from assistant.findings.base import Call, Observation, call, fallback, make_finding
from assistant.findings.benign import LaterLines, benign
from assistant.findings.k8s_structured import looks_structured
from assistant.findings.logtext import LogLine, gist, read_line, shape
from tools.catalog import LOG_TOOLS

_LEVEL_FATAL = re.compile(
    r"\b(?:FATAL|FATL|CRIT|CRITICAL|EMERG|ALERT|PANIC|SEVERE)\b|"
    r"\[(?:\w+:)?(?:crit|critical|alert|emerg|fatal)\]|\blevel=(?:fatal|panic|crit)\b|"
    r"\"(?:level|severity|lvl)\"\s*:\s*\"(?:fatal|panic|critical|crit|emerg|alert)\"|\"s\"\s*:\s*\"F\"|"
    r"\"level\"\s*:\s*60\b|\blvl=crit\b|"
    r"^F\d{4} |\bpanic:|Traceback \(most recent call last\)|Segmentation fault|core dumped|"
    r"\bUncaught\b|\bunhandled (?:exception|rejection)\b",
    re.IGNORECASE,
)
_LEVEL_ERROR = re.compile(
    r"\b(?:ERROR|ERR|EXCEPTION)\b|\[(?:\w+:)?(?:error|err)\]|\blevel=(?:error|err)\b|"
    r"\"(?:level|severity|lvl)\"\s*:\s*\"(?:error|err)\"|\"s\"\s*:\s*\"E\"|^E\d{4} |"
    r"\"level\"\s*:\s*50\b|\blvl=eror\b|"
    r"^(?:[\w.]+\.)?[A-Z]\w*(?:Exception|Error)\b(?::|$)|\b[A-Z]\w+(?:Exception|Error): "
)
_LEVEL_QUIET = re.compile(
    r"\b(?:INFO|DEBUG|TRACE|NOTICE|LOG)\b:?|\[(?:\w+:)?(?:info|debug|notice|trace\d?)\]|\[(?:Note|System)\]|"
    r"\blevel=(?:info|debug|trace)\b|\"(?:level|severity|lvl)\"\s*:\s*\"(?:info|debug|trace)\"|"
    r"\"level\"\s*:\s*[123]0\b|\blvl=(?:info|dbug|trce)\b|"
    r"\"s\"\s*:\s*\"[ID]\d?\"|^[ID]\d{4} "
)
_LEVEL_WARN = re.compile(
    r"\b(?:WARN|WARNING)\b|\[(?:\w+:)?warn\]|\blevel=warn(?:ing)?\b|"
    r"\"(?:level|severity|lvl)\"\s*:\s*\"warn(?:ing)?\"|\"s\"\s*:\s*\"W\"|^W\d{4} |"
    r"\"level\"\s*:\s*40\b",
    re.IGNORECASE,
)
_KERNEL_FAULT = re.compile(
    r"\bsegfault at\b|\bblocked for more than \d+ seconds\b|\bsoft lockup\b|\bhard LOCKUP\b|"
    r"\bgeneral protection fault\b|\bself-detected stall\b|\bBUG: (?:unable|soft|kernel)"
)
"""Kernel faults printed under any level (a hung task is reported as `INFO: task ... blocked`)."""
_STATED = re.compile(
    r"\b(?:is|went|marked(?: as)?) DOWN\b|\bhas no server available\b|\bHealth check for (?:backup )?server \S+ failed\b|"
    r"\bresource limit alarm set\b|\bPublishers will be blocked\b|"
    r"\bflood[ -]stage disk watermark \[[^\]\n]{1,20}\] exceeded\b"
)
"""Outages that software states in these exact words whatever level it gives them: HAProxy's server DOWN and
failed health check (logged at WARNING), RabbitMQ's resource alarm (logged at info by some versions),
Elasticsearch's flood-stage watermark (WARN) that makes every index on the node read-only."""
ERRNO_NAMES = (
    "EACCES EADDRINUSE EADDRNOTAVAIL EAGAIN EAI_AGAIN EAI_NONAME EBADF EBUSY ECONNABORTED ECONNREFUSED "
    "ECONNRESET EDQUOT EEXIST EHOSTDOWN EHOSTUNREACH EINVAL EIO EISDIR ELOOP EMFILE EMLINK ENAMETOOLONG "
    "ENETDOWN ENETUNREACH ENFILE ENOBUFS ENODEV ENOENT ENOEXEC ENOMEM ENOSPC ENOTCONN ENOTDIR ENOTEMPTY "
    "ENOTFOUND ENOTSUP ENXIO EPERM EPIPE EPROTO EROFS ESRCH ESTALE ETIMEDOUT ETXTBSY EXDEV EOVERFLOW"
).split()
"""errno names as C, Go, Node and Ruby print them (Errno::ENOENT, syscall.ECONNRESET, code: 'EPIPE')."""
_ERRNO = re.compile(r"(?<![A-Za-z])(?:" + "|".join(ERRNO_NAMES) + r")\b")
FAILURE_WORDS = re.compile(
    r"\bfail(?:ed|ure|s|ing)?\b|\bdenied\b|\brefused\b|\btimed? ?out\b|\bno such (?:file|host|device)\b|"
    r"\bnot found\b|\bexceed(?:ed|s)?\b|\balarm\b|\blimit (?:reached|exceeded|hit)\b|"
    r"\b(?:over|hit|reached|at|above) (?:the |its |their |\w+ )?limit\b|\bcannot\b|\bcan't\b|\bunable to\b|"
    r"\bcould not\b|\bcouldn't\b|\bunreachable\b|\bout of memory\b|\bkilled\b|\bdeadlock\b|\bcorrupt(?:ed|ion)?\b|"
    r"\babort(?:ed|ing)?\b|\brejected\b|\bforbidden\b|\bunauthori[sz]ed\b|\bexpired\b|\bmismatch\b|"
    r"\bdoes(?: not|n't) match\b|\bnot permitted\b|\bnot allowed\b|\breset by peer\b|\bconnection reset\b|"
    r"\bbroken pipe\b|\bno route to host\b|\bread-only file ?system\b|\btoo many\b|\bcrash(?:ed|ing)?\b|"
    r"\bunhealthy\b|\b(?:lost|dropped) connection\b|\bconnection (?:lost|closed unexpectedly)\b|"
    r"\bunexpected(?:ly)?\b|\b(?:is|are) missing\b|\bmissing required\b|"
    r"\bunknown (?:host|directive|option|variable|command|database|user|column|table|key|field)\b|"
    r"\bexit(?:ed)? (?:with )?(?:status|code)[ =:]*[1-9]\d*\b|\bstatus=[1-9]\d*/(?:[A-Z]+\b|n/a\b)|"
    r"\bsegfault at\b|\bblocked for more than \d+ seconds\b|\bsoft lockup\b|\bhard LOCKUP\b|\bBUG: |"
    r"\bgeneral protection fault\b|\bnot responding\b|\b[Ll]ink is [Dd]own\b|\bSYN flooding\b|"
    r"\bself-detected stall\b|\brcu_\w+ detected stalls?\b|"
    r"\[Errno \d+\]|\berrno[= ]\d+|\(os error \d+\)|\(\d+: [A-Z][a-z]+|\berror\b|"
    r"\binvalid\b|\bmalformed\b|\btruncated\b|\bbad (?:file )?format\b|\bbad (?:magic|checksum|crc|header)\b|"
    r"\bwrong (?:status|checksum|format|type|version|magic)\b|\bnot (?:yet )?ready\b|\binsufficient\b|"
    r"\b(?:is|are|went|marked(?: as)?) down\b(?! (?:to|from|by) )|\bno (?:server|upstream|backend)s? (?:is |are )?available\b|"
    r"\bback(?:ing)?[ -]?off (?:for |of )?\d|\bbacking off\b|\bback-off \w+ing\b|(?-i:(?<=CrashLoop|ImagePull)BackOff)\b|"
    r"\brepeated too quickly\b|\bcommand not found\b|\b(?:giving|gave) up\b|\bexhausted\b|\bwith errors\b|"
    r"\b(?:disk|queue|buffer|pool|table) (?:is )?full\b|\bshort read\b|\bHTTP/[\d.]+\" 5\d\d\b|<NOSRV>",
    re.IGNORECASE,
)
MAX_GROUPS = 5
_CONTINUATION = re.compile(r"^(?:\s+\S|\s*(?:at |\}|\]|\.\.\. \d+ more|File \"))")
_CAUSED_BY = re.compile(r"^Caused by: ")
"""Java's chained exception: the deepest `Caused by:` is the root cause, so it is an error of its own."""
_STATUS_HEADER = re.compile(
    r"^\s*(?:Loaded|Active|Process|Main PID|Tasks|Memory|CPU|CGroup|Docs|Drop-In|TriggeredBy|Triggers|IO|Condition|"
    r"Invocation|Mem peak|Swap peak):\s|^\s*[├└│]"
)
"""systemctl status's own header and cgroup tree: the unit's finding reads them; they are not log lines."""


@dataclass
class Group:
    level: str
    lines: list[LogLine] = field(default_factory=list)
    seen: int = 0
    """Its place in the output among the groups (0: the first failure the output states)."""

    @property
    def first(self) -> str | None:
        return next((ln.timestamp for ln in self.lines if ln.timestamp), None)

    @property
    def last(self) -> str | None:
        return next((ln.timestamp for ln in reversed(self.lines) if ln.timestamp), None)


_CUES = (
    "fail",
    "denied",
    "refused",
    "time",
    "no such",
    "not found",
    "exceed",
    "alarm",
    "limit",
    "cannot",
    "can't",
    "unable",
    "could",
    "unreachable",
    "memory",
    "killed",
    "errno",
    "error",
    "err",
    "fatal",
    "crit",
    "emerg",
    "alert",
    "panic",
    "severe",
    "exception",
    "traceback",
    "segmentation",
    "core dump",
    "uncaught",
    "unhandled",
    "deadlock",
    "corrupt",
    "abort",
    "reject",
    "forbidden",
    "unauthori",
    "expired",
    "mismatch",
    "match",
    "not permitted",
    "not allowed",
    "reset",
    "broken pipe",
    "no route",
    "read-only",
    "too many",
    "crash",
    "unhealthy",
    "connection",
    "unexpected",
    "missing",
    "unknown",
    "exit",
    "status=",
    "os error",
    "segfault",
    "blocked for",
    "lockup",
    "bug: ",
    "protection fault",
    "not responding",
    "link is down",
    "invalid",
    "malformed",
    "truncated",
    "bad ",
    "wrong",
    "ready",
    "insufficient",
    "down",
    "available",
    "backoff",
    "back-off",
    "back off",
    "backing off",
    "repeated",
    "up",
    "exhausted",
    "errors",
    "full",
    "short read",
    "blocked",
    "watermark",
    "health check",
    '"level":5',
    '"level":6',
    '"level": 5',
    '"level": 6',
    "lvl=eror",
    "lvl=crit",
    "http/",
    "<nosrv>",
    "syn flooding",
    "stall",
    '"s"',
    "e0",
    "e1",
    "f0",
    "f1",
    *("(" + d for d in "123456789"),
    *(name.lower() for name in ERRNO_NAMES),
)
SCAN = 600
"""Characters of a line read for its level: level words and failure words come early, and a bound keeps
hostile lines cheap."""


def level_of(line: LogLine) -> str | None:
    """'fatal', 'error' or 'failure' (no level word, but it says something failed); None for anything else."""
    text = line.raw[:SCAN]
    low = text.lower()
    if not any(cue in low for cue in _CUES):
        return None
    line = LogLine(text, line.timestamp, line.program, line.message[:SCAN], line.indented)
    if _LEVEL_FATAL.search(text):
        return "fatal"
    if _KERNEL_FAULT.search(line.message) or _STATED.search(line.message):
        return "error"
    if _LEVEL_ERROR.search(line.message) or _LEVEL_ERROR.search(text):
        return "error"
    if (FAILURE_WORDS.search(line.message) or _ERRNO.search(line.message)) and not _LEVEL_QUIET.search(text):
        return "warning" if _LEVEL_WARN.search(text) else "failure"
    return None


TOOL_SELF = re.compile(
    r"^Unit \S+ could not be found\.?$|^-- No entries --$|^No journal files were (?:found|opened)|^Hint: You are currently not seeing messages|^Users in groups .+ can see all messages|"
    r"^(?:tail|cat|journalctl|grep): |^Error from server \(NotFound\)|^Warning: journal has been rotated|"
    r"^Error from server \(BadRequest\): previous terminated container \S+ in pod \S+ not found|"
    r"^unable to retrieve container logs for "
)
"""What a reading tool says about its own input (no such unit, no entries): a gap, never the system's failure."""


def current_lines(obs: Observation) -> list[str]:
    """Lines that describe the present: for a unit that is running now, only what followed its last start."""
    lines = [ln for ln in obs.lines if not TOOL_SELF.match(ln.strip())]
    if obs.tool == "service_status" and re.search(
        r"^\s*Active:\s+active \(running\)", obs.output, re.MULTILINE
    ):
        starts = [i for i, ln in enumerate(lines) if re.search(r"systemd\[\d+\]: Started ", ln)]
        return (
            lines[starts[-1] + 1 :]
            if starts
            else [ln for ln in lines if not re.match(r"^\w{3} [ \d]\d ", ln)]
        )
    return lines


def error_groups(obs: Observation) -> list[Group]:
    """Failure lines of a log output grouped by message shape, most severe and most frequent first."""
    groups: dict[str, Group] = {}
    in_block = False
    trace: list[LogLine] | None = None
    status = obs.tool == "service_status"
    lines = current_lines(obs)
    later = LaterLines(lines)
    for i, raw in enumerate(lines):
        if not raw.strip() or (status and _STATUS_HEADER.match(raw)):
            continue
        line = read_line(raw)
        raised = False
        if trace is not None:  # a traceback: its frames, then the exception line that names the error
            if line.indented or line.message.startswith(('File "', "at ", "^", "~")):
                trace.append(line)
                continue
            line = _traceback_end(line, trace)
            trace, raised = None, True  # what a traceback ends in was raised: never benign noise
        elif "Traceback (most recent call last)" in line.message:
            trace = [line]
            continue
        if (
            in_block
            and (line.indented or _CONTINUATION.match(line.message))
            and not _CAUSED_BY.match(line.message)
        ):
            continue  # a stack frame or a field of the error object just reported
        level = (
            "fatal"
            if line.message.startswith("Traceback: ") or ' (File "' in line.message
            else level_of(line)
        )
        in_block = level is not None
        if level is None or (not raised and benign(raw[:SCAN], later=later.after(i))):
            continue
        key = shape(line.message)
        groups.setdefault(key, Group(level, seen=len(groups))).lines.append(line)
    order = {"fatal": 0, "error": 1, "failure": 2, "warning": 3}
    ranked = sorted(
        enumerate(groups.values()),
        key=lambda ig: (order[ig[1].level], -specificity(ig[1].lines[0].message), ig[0]),
    )
    return [g for _, g in ranked]


_SPECIFIC = [
    re.compile(r"\b[A-Z]\w*(?:Error|Exception)\b|\bE[A-Z]{3,}\b|\[Errno \d+\]|\(\d+: [A-Z]|errno"),
    re.compile(r"(?<![\w.])/[\w.-]+/[\w./-]+|\b[\w.-]+:\d{2,5}\b|https?://"),
    re.compile(r"\"[^\"]+\"|'[^']+'"),
]


def specificity(message: str) -> int:
    """How much a message says: a named error or errno, a path or address, a quoted value (generic wrappers
    such as 'Exception in worker process' say none of these)."""
    return sum(1 for rx in _SPECIFIC if rx.search(message))


def _traceback_end(line: LogLine, trace: list[LogLine]) -> LogLine:
    """The exception line ends a traceback; it is what the error was (its last `File` frame says where)."""
    frame = next((t for t in reversed(trace) if t.message.startswith('File "')), None)
    where = f" ({frame.message})" if frame else ""
    return LogLine(
        raw=line.raw,
        timestamp=line.timestamp or trace[0].timestamp,
        program=line.program,
        message=("Traceback: " if "Error" not in line.message and "Exception" not in line.message else "")
        + line.message
        + where,
    )


_URL = re.compile(r"\bhttps?://[^\s\"'<>)\],]+")
_HOSTPORT = re.compile(r"(?<![\w./@-])(?P<host>[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):(?P<port>\d{2,5})\b")
_UNIT = re.compile(r"\b(?P<unit>[a-z][\w@.-]*)\.service\b")
_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


_POINTER = re.compile(
    r"(?:\bsee|\bvisit|\brefer to|\bread|\bdocs?|\bdocumentation|\bmore (?:info\w*|details)|\btroubleshoot\w*|"
    r"\bhelp|\bguide|\bfaq|\bcf\.?|\bsee also|\bfor details|\blearn more|\bhttps? link)\W{0,12}(?:at\W+|on\W+|in\W+)?$",
    re.IGNORECASE,
)
_DOC_URL = re.compile(
    r"^https?://(?:[\w-]+\.)*(?:github\.com|gitlab\.com|stackoverflow\.com|readthedocs\.io|[\w-]+\.io/(?:docs?|plugins)|"
    r"kubernetes\.io|docs\.[\w.-]+|[\w.-]+/(?:docs?|documentation|manual|wiki|faq|kb|help)/)|"
    r"#(?:troubleshoot\w*|faq)|/(?:issues|pull|wiki|troubleshooting)(?:/|$)|increase-rate-limit",
    re.IGNORECASE,
)
_REACH_FAILED = re.compile(
    r"\b(?:fail\w*|error\w*|unable|cannot|can't|could not|couldn't|refused|timed? ?out|timeout|deadline|"
    r"unreachable|no route|no such host|reset|eof|dial|connect\w*|x509|certificate|tls|handshake|status|"
    r"returned|responded|response|request|get|post|put|fetch\w*|unavailable|denied|forbidden|"
    r"unauthori[sz]ed|[45]\d\d)\b",
    re.IGNORECASE,
)


_KUBELET_URL = re.compile(r"^https?://[^/\s]+:1025[05](?:/|$)")
"""A kubelet's own API (`https://10.0.1.25:10250/containerLogs/...`): only the API server reaches it."""


def reached_for(message: str, url: str, at: int) -> bool:
    """Did the line try to reach this URL and fail, or does it only point at documentation ('see https://...',
    a GitHub issue, a troubleshooting page)? Only the first is a place to check."""
    if _POINTER.search(message[:at]) or _DOC_URL.search(url):
        return False
    return bool(_REACH_FAILED.search(message))


def leads(message: str) -> list[Call]:
    """What an error line names that can be checked next: a URL it failed to reach, a host and port, a unit."""
    out: list[Call] = []
    for m in _URL.finditer(message):
        url = m.group(0).rstrip(".;:")
        if _KUBELET_URL.search(url):  # the API server could not reach a node's kubelet: the node is the lead
            continue
        if reached_for(message, url, m.start()):
            out.append(call("http_check", url=url))
    for m in _HOSTPORT.finditer(message):
        host, port = m.group("host"), int(m.group("port"))
        if not 0 < port < 65536:
            continue
        if host in _LOCAL:
            out.append(call("port_owner", port=port))
        elif "." in host or "-" in host:
            out.append(call("dns_lookup", name=host))
    for m in _UNIT.finditer(message):
        out.append(call("service_status", service=m.group("unit")))
    return out


def last_words(obs: Observation) -> list[Group]:
    """A crashed container's previous log with no error-level line: its last line is what it said before it
    exited, the closest thing to a cause the log has."""
    if obs.tool != "pod_logs" or not obs.args.get("previous") or obs.did_not_run:
        return []
    last = next((ln for ln in reversed(current_lines(obs)) if ln.strip() and not benign(ln)), None)
    return [Group("failure", [read_line(last)])] if last else []


def _continued(lines: list[str], covered: set[str]) -> set[str]:
    """Lines that finish a quoted line ending in ':' (apache's `Syntax error on line 31 of FILE:` then the
    reason): the finding that quoted the first already reports the error they belong to."""
    return {
        lines[i + 1].strip()
        for i, ln in enumerate(lines[:-1])
        if ln.rstrip().endswith(":") and ln.strip() in covered
    }


def first_in_chain(groups: list[Group], limit: int = MAX_GROUPS) -> list[Group]:
    """The `limit` highest-ranked groups, always including the first failure the output states: in a chain
    (health check failed → server DOWN → no server available → 503) the earliest line is the cause, even
    when later, louder lines outrank it."""
    picked = groups[:limit]
    earliest = min((g for g in groups if g.level != "warning"), key=lambda g: g.seen, default=None)
    if earliest is not None and picked and not any(g is earliest for g in picked):
        picked[-1] = earliest
    return picked


def _source(obs: Observation) -> str:
    for key in ("source", "pod", "service"):
        if obs.args.get(key):
            return str(obs.args[key])
    return obs.tool


@fallback
def error_lines(obs: Observation, covered: set[str]) -> list[Finding]:
    """Every failure a log states, grouped and counted, whether or not a specific signature knows it."""
    if obs.tool not in LOG_TOOLS or obs.did_not_run or looks_structured(obs.output):
        return []  # an object printed as YAML/JSON is read field by field (k8s_structured), not as log lines
    out = []
    source = _source(obs)
    unit_known = bool(covered) or any(f.signature == "unit-failed" for f in obs.prior)
    covered = covered | _continued(obs.lines, covered)
    groups = [
        g
        for g in error_groups(obs) or last_words(obs)
        if not any(ln.raw in covered for ln in g.lines)
        and not (
            unit_known and g.lines[0].program == "systemd" and not _SPECIFIC[1].search(g.lines[0].message)
        )
    ]  # the unit's finding already says it, unless systemd names a path (`Failed at step EXEC spawning /x`)
    for g in first_in_chain(groups):
        sample = g.lines[0]
        count = len(g.lines)
        when = (
            f" (first {g.first}, last {g.last})"
            if g.first and count > 1
            else f" (at {g.first})"
            if g.first
            else ""
        )
        times = f"{count}× " if count > 1 else ""
        severity = {"fatal": "high", "error": "medium", "failure": "medium", "warning": "info"}[g.level]
        out.append(
            make_finding(
                obs,
                "error-lines",
                f"{source} logged {times}{g.level}: {gist(sample.message)}{when}",
                [sample.raw, g.lines[-1].raw],
                {
                    "source": source,
                    "shape": shape(sample.message),
                    "count": count,
                    "level": g.level,
                    "first": g.first,
                    "last": g.last,
                    "program": sample.program,
                    "message": sample.message[:300],
                    "specific": specificity(sample.message),
                },
                severity=severity,
                confidence=0.6,
                next_checks=leads(sample.message),
            )
        )
    return out


_COMMAND_ERROR = re.compile(
    r"^(?P<cmd>df|du|stat|findmnt|mount|free|uptime|ps|ss|lsof|getent): (?P<what>\S.*)$"
)
"""A diagnostic command's own error on stderr (`df: /mnt/nfs: Stale file handle`): these print there only when
something is wrong with what they read, so the line is a failure whatever its words."""


@fallback
def command_errors(obs: Observation, covered: set[str]) -> list[Finding]:
    """Errors the host's own diagnostic commands print about what they read: a hung or stale mount in df, an
    unreadable directory in du. Log readers' notes about their own input are gaps instead (TOOL_SELF)."""
    if obs.tool in LOG_TOOLS or ": " not in obs.output:
        return []
    hits = [
        (ln.strip(), m)
        for ln in obs.lines
        if (m := _COMMAND_ERROR.match(ln.strip())) and ln.strip() not in covered and not benign(ln.strip())
    ]
    if not hits:
        return []
    line, m = hits[0]
    return [
        make_finding(
            obs,
            "error-lines",
            f"{m.group('cmd')} reported: {gist(m.group('what'))}"
            + (f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""),
            [h[0] for h in hits[:3]],
            {
                "source": obs.tool,
                "shape": shape(line),
                "count": len(hits),
                "level": "error",
                "message": line[:300],
                "specific": specificity(line),
            },
            severity="medium",
            confidence=0.7,
        )
    ]
