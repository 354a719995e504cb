"""One or two sentences naming the root cause, from the leading finding's facts and what else was seen.

Each sentence is built only from findings and quoted output of this conversation; a
detail that was not observed is left out rather than assumed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.events import Finding
from assistant.findings.signatures import SIGNATURES
from assistant.runbook.conversation import Conversation
from assistant.runbook.leads import listen_lines, refused_upstream_ports

Cause = Callable[[Finding, list[Finding], Conversation], str]


def _of(findings: list[Finding], signature: str, **want) -> Finding | None:
    return next(
        (f for f in findings if f.signature == signature and all(f.facts.get(k) is not None for k in want)),
        None,
    )


def _line(conv: Conversation, tool: str, pattern: str) -> str | None:
    rx = re.compile(pattern)
    for c in conv.calls:
        if c.name == tool:
            for ln in c.output.splitlines():
                if rx.search(ln):
                    return ln.strip()
    return None


def _port(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    svc = x.get("service") or "the service"
    if not x.get("pid"):
        return (
            f'{svc} cannot start because port {x.get("port")} is already in use ("Address already in use"); '
            "the process holding it has not been identified yet."
        )
    since = f", running since {x['started']}" if x.get("started") else ""
    who = f"`{x.get('cmdline') or x.get('process')}` (pid {x['pid']}, user {x.get('user') or '?'}{since})"
    return (
        f"{svc} cannot bind port {x['port']} because another process already holds it: {who}. "
        f'{svc} fails at start with "Address already in use".'
    )


def _dns(f: Finding, others: list[Finding], conv: Conversation) -> str:
    name = f.facts.get("name") or "a hostname"
    crash = _of(others, "crash-loop", exit_code=True) or _of(others, "crash-loop")
    confirmed = any(o.signature == "dns-nxdomain" and o.facts.get("source") == "lookup" for o in [f, *others])
    text = f"The application is configured to connect to `{name}`, which does not exist"
    text += " (a DNS lookup returns NXDOMAIN)" if confirmed else " (name not found)"
    if crash:
        code = crash.facts.get("exit_code")
        text += f", so pod `{crash.facts.get('pod')}` crash-loops" + (
            f" (exit code {code})" if code is not None else ""
        )
    text += "."
    if "." not in str(name) and any(c.name in ("list_pods", "pod_describe") for c in conv.calls):
        text += (
            f" In Kubernetes a short name like `{name}` resolves only to a Service in the pod's own namespace; "
            "if the Service lives in another namespace, the name must include it (name.namespace)."
        )
    right = _line(conv, "dns_lookup", r"has (?:IPv6 )?address")
    if right:
        text += f" The name that does resolve is shown by `{right}`."
    source = _line(conv, "pod_describe", r"of config map '")
    if source:
        text += f" The setting comes from a ConfigMap: `{source}`."
    return text + " The configured hostname is wrong."


_IP = r"(?:\d{1,3}(?:\.\d{1,3}){3}|[\da-f]{0,4}(?::[\da-f]{0,4}){2,7})"
_RESOLVER = re.compile(
    rf"^\s*(?:Server|;; SERVER):\s+(?P<a>{_IP})\b|^\s*nameserver\s+(?P<b>{_IP})\b"
    rf"|communications error to (?P<c>{_IP})#53|no response from (?:server )?(?P<d>{_IP})\b",
    re.MULTILINE | re.IGNORECASE,
)


def _dns_timeout(f: Finding, others: list[Finding], conv: Conversation) -> str:
    """A lookup that times out: which resolver did not answer, and where that resolver is configured."""
    servers = [
        ip
        for c in conv.calls
        if c.answered
        for m in _RESOLVER.finditer(c.output)
        if (ip := m.group("a") or m.group("b") or m.group("c") or m.group("d")) and ip not in ("127.0.0.53",)
    ]
    stub = any("127.0.0.53" in c.output for c in conv.calls)
    text = f"{f.title}: the DNS server did not answer at all (the lookup timed out, it was not refused)"
    if servers:
        text += f"; the resolver asked is {', '.join(dict.fromkeys(servers))}, which does not respond"
    elif stub:
        text += "; the local stub resolver (127.0.0.53, systemd-resolved) forwards to an upstream that does not respond"
    return text + (
        ". Check /etc/resolv.conf (and `resolvectl status`): the nameserver configured there — often one handed "
        "out by DHCP after a reboot — is unreachable or retired; point it at a working resolver."
    )


def _db(f: Finding, others: list[Finding], conv: Conversation) -> str:
    idle = _of([f, *others], "db-idle-in-transaction")
    refused = _of([f, *others], "db-max-connections")
    pool = _of([f, *others], "connection-pool-exhausted")
    parts = []
    if idle:
        parts.append(
            f"{idle.facts.get('idle_in_transaction')} PostgreSQL sessions are stuck `idle in transaction` "
            f"(client {idle.facts.get('client') or '?'}), holding connection slots without finishing"
        )
    if refused:
        parts.append(
            "the server has reached max_connections and refuses new clients "
            '("too many clients" / reserved slots)'
        )
    if pool:
        parts.append(f"the application's pool {pool.facts.get('pool')} is exhausted, so requests time out")
    text = "; ".join(parts) or f.title
    leak = " A client is leaking database sessions (transactions never closed)." if idle else ""
    return text[0].upper() + text[1:] + "." + leak


def _oom(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    if not x.get("container"):
        if x.get("cgroup"):
            limit = f" (MemoryMax {x['memory_limit']})" if x.get("memory_limit") else ""
            return (
                f"{x.get('process') or 'A process'} is killed by the OOM killer at its own cgroup memory limit"
                f"{limit}, not because the host is out of memory: it grows past the limit its unit sets."
            )
        return f"The kernel's OOM killer killed {x.get('process') or 'a process'}: it ran out of memory." + (
            _hog(conv, str(x.get("process") or ""), str(x.get("pid") or ""))
        )
    limit = f" of {x['memory_limit']}" if x.get("memory_limit") else ""
    text = (
        f"Container `{x['container']}` in pod `{x.get('pod')}` is killed for exceeding its memory limit{limit}: "
        f"Last State OOMKilled, exit code {x.get('exit_code')}, {x.get('restarts')} restarts."
    )
    rollout = _line(conv, "k8s_events", r"Scaled (?:up|down) replica set") if x.get("deployment") else None
    if rollout:
        text += (
            f" It started with a new rollout of `{x['deployment']}`: `{rollout}` — a recent change "
            "(e.g. a lower memory limit) is the likely trigger."
        )
    return text


_TASK_ROW = re.compile(
    r"\[\s*(?P<pid>\d+)\]\s+\d+\s+\d+\s+\d+\s+(?P<rss>\d+)\s+\d+\s+\d+\s+-?\d+\s+(?P<name>\S+)\s*$"
)
"""A row of the kernel OOM report's task table: [pid] uid tgid total_vm rss pgtables_bytes swapents adj name."""


def _hog(conv: Conversation, victim: str, victim_pid: str) -> str:
    """The biggest memory user when the OOM killer ran (from the report's task table, else the process table),
    when it is not the process that was killed: the victim is often not the cause."""
    rows = [
        (int(m.group("rss")), m.group("pid"), m.group("name"))
        for c in conv.calls
        if c.answered
        for ln in c.output.splitlines()
        if (m := _TASK_ROW.search(ln))
    ]
    ps = [
        (float(m.group("mem")), ln.strip())
        for c in conv.calls
        if c.name == "process_list" and c.answered
        for ln in c.output.splitlines()
        if (m := _PS_MEM.match(ln.strip()))
    ]
    if rows:
        rss, pid, name = max(rows)
        if name == victim and pid == victim_pid:
            return ""
        cmd = next((ln.split(None, 10)[-1] for _, ln in ps if re.match(rf"\S+\s+{pid}\s", ln)), None)
        text = f" The biggest memory user in the OOM report was {name} (pid {pid}, {rss * 4 // 1024} MiB resident)"
        return (
            text
            + (f": `{cmd[:200]}`" if cmd else "")
            + "; it exhausted the memory, the killed process was only its victim."
        )
    if ps:
        mem, line = max(ps)
        if mem >= 20 and (not victim or victim not in line.split(None, 10)[-1]):
            cmd, pid = line.split(None, 10)[-1], line.split()[1]
            return f" The largest process holds {mem:g}% of memory: `{cmd[:200]}` (pid {pid}) — it exhausts the memory."
    return ""


def _image(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    why = {
        "tag-not-found": "does not exist in the registry (tag not found / manifest unknown)",
        "unauthorized": "is refused by the registry (not authorized)",
        "registry-unreachable": "cannot be fetched (registry unreachable)",
    }.get(x.get("cause") or "", "cannot be pulled")
    return f"Pod `{x.get('pod')}` cannot start because image `{x.get('image') or '?'}` {why}" + (
        f"; deployment `{x['deployment']}` references it." if x.get("deployment") else "."
    )


def _disk(f: Finding, others: list[Finding], conv: Conversation) -> str:
    both = [f, *others]
    df = next(
        (o for o in both if o.signature == "disk-full" and o.facts.get("mount") and not o.facts.get("size")),
        None,
    )
    big = next((o for o in both if o.signature == "disk-full" and o.facts.get("size")), None)
    enospc = next((o for o in both if o.signature == "disk-full" and not o.facts.get("mount")), None)
    parts = []
    if df:
        parts.append(
            f"{df.facts['mount']} is {df.facts.get('use_percent')}% full ({df.facts.get('kind', 'space')})"
        )
    if big:
        parts.append(f"{big.facts['path']} alone takes {big.facts['size']}")
        writer = _line(conv, "process_list", re.escape(str(big.facts["path"])))
        if writer:
            parts.append(f"it is written by `{writer}`")
    if enospc:
        parts.append(
            'writes fail with "No space left on device"'
            + (f" ({enospc.facts['path']})" if enospc.facts.get("path") else "")
        )
    text = "; ".join(parts) or f.title
    return text[0].upper() + text[1:] + "."


def _tls(f: Finding, others: list[Finding], conv: Conversation) -> str:
    expired = _of([f, *others], "tls-cert-expired", not_after=True) or _of([f, *others], "tls-cert-expired")
    stale = _of([f, *others], "tls-cert-not-reloaded")
    x = expired.facts if expired else {}
    text = f"The TLS certificate served for {x.get('host') or 'the site'} has expired"
    if x.get("not_after"):
        text += f" (notAfter={x['not_after']}" + (
            f", {-int(x['days_left'])} days ago)" if x.get("days_left") is not None else ")"
        )
    text += '; clients reject it with "certificate has expired".'
    if stale:
        text += (
            " A renewed certificate was already deployed on disk (`new certificate deployed without reload`), "
            "but the server was never reloaded, so it still serves the old one."
        )
        from assistant.runbook.fixes import tls_server

        server = tls_server(conv)
        master = (
            _line(conv, "process_list", rf"{server}: master process|/usr/sbin/{server}\b") if server else None
        )
        if master:
            text += f" `ps` shows {server} running since before the renewal: `{master}`."
    return text


def explained_by(f: Finding, others: list[Finding]) -> Finding | None:
    """The error its own log gives for a symptom (a crash, a failed unit): the most severe, then the earliest."""
    subject = str(f.facts.get("pod") or f.facts.get("unit") or f.facts.get("service") or "")
    if not subject:
        return None
    mine = [
        o
        for o in others
        if o.signature == "error-lines"
        and o.severity != "info"
        and subject in str(o.facts.get("source") or "")
    ]
    order = {"fatal": 0, "error": 1, "failure": 2}
    return min(
        mine,
        key=lambda o: (order.get(str(o.facts.get("level")), 3), -int(o.facts.get("specific") or 0)),
        default=None,
    )


def _because(f: Finding, others: list[Finding], fallback: str) -> str:
    why = explained_by(f, others)
    if why is None:
        return fallback
    return (
        f"; its log says why: {_quoted(why)}"
        + (f" ({why.facts['count']} times)" if why.facts.get("count", 1) > 1 else "")
        + "."
    )


def _crash(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    code = x.get("exit_code")
    return (
        f"Pod `{x.get('pod')}` is crash-looping"
        + (f" (last exit code {code}" if code is not None else " (")
        + f"{', ' if code is not None else ''}{x.get('restarts', '?')} restarts)"
        + _because(f, others, "; its logs do not show a more specific cause than the exit itself.")
    )


def _own_words(f: Finding) -> str | None:
    """A line of the service's own (not systemd's) among the finding's evidence that states an error."""
    from assistant.findings.generic import level_of
    from assistant.findings.logtext import read_line

    for ev in f.evidence:
        for raw in ev.lines:
            line = read_line(raw)
            if line.program and line.program != "systemd" and level_of(line):
                return raw
    return None


def _specific_in_own_log(f: Finding, others: list[Finding], conv: Conversation) -> Finding | None:
    """A specific failure (not a generic error line) that the unit's own log file or journal states: a failed
    start's reason (PostgreSQL's 'No space left on device' behind pg_ctl's 'exited with status 1')."""
    unit = str(f.facts.get("unit") or f.facts.get("service") or "")
    stem = re.split(r"[@.]", unit)[0]
    if not stem:
        return None
    sources = {c.id: f"{c.args.get('source') or ''} {c.command}" for c in conv.calls if c.name == "log_tail"}
    return next(
        (
            o
            for o in others
            if o is not f
            and o.severity in ("critical", "high")
            and o.signature not in ("error-lines", f.signature)
            and any(ev.tool == "log_tail" and stem in sources.get(ev.call_id, "") for ev in o.evidence)
        ),
        None,
    )


_EXEC_START = re.compile(r"ExecStart=(?:\{ path=)?(?P<path>/[^\s;]+)")


def _exec_failed(f: Finding, conv: Conversation, said: str) -> str:
    """status=203/EXEC: systemd could not execute the unit's ExecStart binary; quote that path."""
    if "203" not in f.title and "EXEC" not in f.title and "start-limit" not in f.title:
        return ""
    for c in conv.calls:
        if c.answered and ("203/EXEC" in c.output or "step EXEC" in c.output):
            m = _EXEC_START.search(c.output) or re.search(r"step EXEC spawning (?P<path>/\S+?):", c.output)
            if m and m.group("path") not in said:
                return (
                    f" systemd could not execute ExecStart `{m.group('path')}` (status=203/EXEC: the file is "
                    "missing or not executable — e.g. moved by a package change); fix the path in the unit, then "
                    "`systemctl reset-failed` and start it."
                )
            if m:
                return " status=203/EXEC means systemd could not execute that ExecStart path."
    return ""


def _unit(f: Finding, others: list[Finding], conv: Conversation) -> str:
    text = _unit_text(f, others, conv)
    return text + _exec_failed(f, conv, text)


def _unit_text(f: Finding, others: list[Finding], conv: Conversation) -> str:
    why = _specific_in_own_log(f, others, conv)
    if why is not None and why.evidence and why.evidence[0].lines:
        return f"{f.title}; its log says why: {why.title} (`{why.evidence[0].lines[0].strip()[:240]}`)."
    said = _own_words(f)
    if said and explained_by(f, others) is None:
        return f"{f.title}; its log says why: `{said.strip()[:240]}`."
    return f.title + _because(f, others, "; its log does not show a more specific cause.")


def _conn(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    where = (
        f"at {x.get('host') or '?'}:{x['port']}"
        if x.get("port")
        else (f"at {x['host']}" if x.get("host") else "")
    )
    if f.signature == "connection-refused":
        upstream = bool(x.get("port")) and str(x["port"]) in {str(p) for p in refused_upstream_ports(conv)}
        moved = [(p, ln) for p, ln in listen_lines(conv) if upstream and str(p) != str(x["port"])]
        if moved:  # the application says it listens elsewhere: the two addresses disagree
            port, line = moved[-1]
            return (
                f"Connections {where} are refused because nothing listens on port {x['port']}: the application "
                f"now listens on port {port} instead (`{line[:200]}`). The caller (the proxy's upstream) still "
                f"points at {x['port']}; make the two agree (change the upstream to {port}, or bind the "
                f"application back to {x['port']})."
            )
        return (
            f"The dependency {where} refuses connections, so requests that need it fail: the host answered, "
            "but nothing listens on that port (the service is down or bound elsewhere)."
        )
    return (
        f"Connections to the dependency {where} time out, so requests that need it fail. A timeout, unlike a "
        "refusal, means nothing answered at all: the packets are dropped on the way (a firewall or security "
        "group, a route or subnet) or the host is down."
    )


def _config(f: Finding, others: list[Finding], conv: Conversation) -> str:
    msg = f" ({f.facts['message']})" if f.facts.get("message") else ""
    return (
        f"The configuration is invalid at {f.facts.get('file')}:{f.facts.get('line')}{msg}, so the service "
        "will not (re)start."
    )


def _lock(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    locks = "/".join(x.get("locks") or []) or "a lock"
    text = f"Queries are stuck waiting for {locks}" + (f" on {x['relation']}" if x.get("relation") else "")
    pid = x.get("holder_pid")
    if pid:
        text += f"; the lock is held by pid {pid}"
        holder = _line(conv, "process_list", rf"^\S+\s+{pid}\s") or _line(conv, "service_status", rf"─{pid} ")
        if holder:
            text += f" (`{holder.strip(chr(34) + ' ├─└')}`)"
    statement = _line(
        conv, "log_tail", r"STATEMENT:\s+(ALTER|LOCK|DROP|TRUNCATE|VACUUM FULL|REINDEX|CREATE INDEX)"
    )
    if statement:
        text += (
            f", and a schema change waits behind it: `{statement}`; every later query on the table queues "
            "behind that"
        )
    return text + "."


def _missing(f: Finding, others: list[Finding], conv: Conversation) -> str:
    name = f.facts.get("name")
    text = f"The process exits at start because the required setting `{name}` is not set"
    crash = _of(others, "crash-loop", exit_code=True)
    if crash:
        text += f" (pod `{crash.facts.get('pod')}` crash-loops with exit code {crash.facts.get('exit_code')})"
    source = _line(conv, "pod_describe", rf"^\s*{re.escape(str(name))}:")
    if source:
        text += f". The pod spec maps it from: `{source}` — that key/reference is wrong or missing"
    return text + "."


def _evict(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    res = x.get("resource")
    text = f"Pods are evicted by the kubelet: the node ran low on {res}" if res else f"{f.title}"
    if x.get("message"):
        text += f" (`{x['message'][:200]}`)"
    return (
        text + "; evicted pods stop working until rescheduled, and the eviction repeats while the usage does."
    )


def _probe(f: Finding, others: list[Finding], conv: Conversation) -> str:
    kind = str(f.facts.get("probe") or "readiness").capitalize()
    text = f"{f.title}; the kubelet marks the pod unhealthy"
    spec = _line(conv, "pod_describe", rf"^\s*{kind}:\s+\S")
    if spec:
        text += (
            f". The probe is configured as `{spec}` — check that the application still serves that path/port"
        )
    return text + "."


def _workers(f: Finding, others: list[Finding], conv: Conversation) -> str:
    text = f"All of the server's workers are busy ({f.title}), so new requests queue and time out"
    slow = next(
        (
            o
            for o in others
            if o.signature in ("connection-timeout", "error-lines")
            and re.search(r"timed? ?out|timeout", " ".join(o.evidence[0].lines) if o.evidence else "")
        ),
        None,
    )
    if slow:
        text += f". The workers are held by calls that time out: {_quoted(slow)}"
    return text + "."


def _quoted(f: Finding) -> str:
    line = next((ln for ev in f.evidence for ln in ev.lines), "")
    return f"`{line.strip()[:240]}`" if line and "`" not in line else f'"{line.strip()[:240]}"'


def _errors(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    count = f"{x['count']} times" if (x.get("count") or 1) > 1 else "once"
    when = f", first at {x['first']}" if x.get("first") else ""
    return (
        f"{x.get('source') or 'The log'} reports a {x.get('level') or 'failure'} ({count}{when}): {_quoted(f)}. "
        "No more specific signature matched it, so this line is the most direct evidence of the failure."
    ) + _not_on_path(f, conv)


_MISSING_COMMAND = re.compile(r"(?P<cmd>[\w.+-]+): (?:command not found|No such file or directory)\b")


def _not_on_path(f: Finding, conv: Conversation) -> str:
    """A job's command that the shell cannot find: under cron that is its PATH (only /usr/bin:/bin)."""
    lines = [ln for e in f.evidence for ln in e.lines]
    m = next((m for ln in lines if (m := _MISSING_COMMAND.search(ln))), None)
    if m is None:
        return ""
    cron = any(
        "CRON[" in c.output or "cron" in str(c.args.get("source", "")) for c in conv.calls
    ) or re.search(r"\bcron", " ".join(conv.users), re.IGNORECASE)
    where = (
        "cron runs jobs with a minimal PATH (/usr/bin:/bin), so a program installed elsewhere "
        "that works from a login shell is not found there"
        if cron
        else "the program is not installed where the PATH of the caller looks"
    )
    return (
        f" `{m.group('cmd')}` is not found when the job runs (command not found, exit code 127): {where}. "
        f"Call it by its full path or set PATH at the top of the crontab/script."
    )


def _warning(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    return f'Kubernetes reports `{x.get("reason")}` for {x.get("object")}: "{x.get("message")}".'


def _container(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    text = f"{f.title[0].upper()}{f.title[1:]}"
    said = next(
        (o for o in others if o.signature == "k8s-warning" and o.facts.get("pod") in (x.get("pod"), None)),
        None,
    )
    if said:
        text += f'; Kubernetes says: "{said.facts.get("message")}"'
    return text + "."


def _pending(f: Finding, others: list[Finding], conv: Conversation) -> str:
    text = f"{f.title[0].upper()}{f.title[1:]}".rstrip(".")
    if f.facts.get("spec"):
        text += f". The pod asks for `{f.facts['spec']}`, which no node offers"
    related = [
        o
        for o in others
        if o.signature == "k8s-warning" and o.facts.get("namespace") == f.facts.get("namespace")
    ]
    if related:
        text += (
            f". Kubernetes also reports {related[0].facts.get('reason')} on {related[0].facts.get('object')}: "
            f'"{related[0].facts.get("message")}" — that is why'
        )
    return text + "."


_PS_MEM = re.compile(
    r"^\S+\s+\d+\s+[\d.]+\s+(?P<mem>[\d.]+)\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+\S+\s+(?P<cmd>.+)$"
)


def _memory(f: Finding, others: list[Finding], conv: Conversation) -> str:
    text = f"The host is out of memory: {f.title}"
    swap = _line(conv, "host_resources", r"^\s*Swap:")
    if swap:
        text += f"; swap: `{swap}`"
    rows = [
        (float(m.group("mem")), ln.strip())
        for c in conv.calls
        if c.name == "process_list"
        for ln in c.output.splitlines()
        if (m := _PS_MEM.match(ln.strip()))
    ]
    if rows:
        top = max(rows)
        text += f". The largest process holds {top[0]:g}% of memory: `{top[1][:200]}`"
    return text + "."


def _init_waiting(f: Finding, others: list[Finding], conv: Conversation) -> str:
    x = f.facts
    text = f"Pod `{x.get('pod')}` never starts: its init container `{x.get('container')}` has not finished"
    pod = str(x.get("pod") or "")
    said = next(
        (o for o in others if o.signature == "error-lines" and pod and pod in str(o.facts.get("source"))),
        None,
    )
    logs = [
        c
        for c in conv.calls
        if c.name == "pod_logs"
        and c.args.get("container") == x.get("container")
        and c.args.get("pod") == x.get("pod")
        and c.output.strip()
    ]
    if said:
        text += f"; it reports {_quoted(said)}"
    elif logs:
        last = [ln.strip() for ln in logs[-1].output.splitlines() if ln.strip()][-1]
        text += f"; the last thing it printed is `{last[:240]}` — what it waits for is not there"
    return text + "."


CAUSES: dict[str, Cause] = {
    "init-container-waiting": _init_waiting,
    "memory-exhausted": _memory,
    "pod-unschedulable": _pending,
    "port-in-use": _port,
    "dns-nxdomain": _dns,
    "db-idle-in-transaction": _db,
    "db-max-connections": _db,
    "connection-pool-exhausted": _db,
    "oom-killed": _oom,
    "image-pull-failed": _image,
    "disk-full": _disk,
    "crash-loop": _crash,
    "connection-refused": _conn,
    "dns-timeout": _dns_timeout,
    "connection-timeout": _conn,
    "config-test-failed": _config,
    "tls-cert-expired": _tls,
    "tls-cert-not-reloaded": _tls,
    "db-lock-wait": _lock,
    "missing-config": _missing,
    "pod-evicted": _evict,
    "probe-failing": _probe,
    "unit-failed": _unit,
    "error-lines": _errors,
    "k8s-warning": _warning,
    "k8s-warning-symptom": _warning,
    "container-not-running": _container,
    "workers-exhausted": _workers,
}
"""Refiners: signatures whose sentence needs the conversation. Every other sentence is the registry's."""


def cause_sentence(conv: Conversation, main: Finding, findings: list[Finding]) -> str:
    others = [f for f in findings if f is not main]
    fn = CAUSES.get(main.signature)
    sig = SIGNATURES.get(main.signature)
    try:
        if fn:
            return fn(main, others, conv)
        return sig.cause.format(title=main.title, **main.facts) if sig and sig.cause else f"{main.title}."
    except (KeyError, TypeError, ValueError, IndexError):
        return f"{main.title}."
