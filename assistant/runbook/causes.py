"""One or two sentences naming the root cause, from the leading finding's facts (and its neighbours')."""

from __future__ import annotations

from collections.abc import Callable

from assistant.events import Finding
from assistant.runbook.conversation import Conversation


def _of(findings: list[Finding], signature: str) -> Finding | None:
    return next((f for f in findings if f.signature == signature), None)


def _port(f: Finding, others: list[Finding]) -> str:
    x = f.facts
    svc = x.get("service") or "the service"
    if not x.get("pid"):
        return f"{svc} cannot start because port {x.get('port')} is already in use (\"Address already in use\"); " \
               "the process holding it has not been identified yet."
    since = f", running since {x['started']}" if x.get("started") else ""
    who = f"`{x.get('cmdline') or x.get('process')}` (pid {x['pid']}, user {x.get('user') or '?'}{since})"
    return f"{svc} cannot bind port {x['port']} because another process already holds it: {who}. " \
           f"{svc} fails at start with \"Address already in use\"."


def _dns(f: Finding, others: list[Finding]) -> str:
    name = f.facts.get("name") or "a hostname"
    crash = _of(others, "crash-loop")
    where = f" so {crash.facts.get('pod')} crash-loops (exit code {crash.facts.get('exit_code')})" if crash else ""
    confirmed = any(o.signature == "dns-nxdomain" and o.facts.get("source") == "lookup" for o in [f, *others])
    tail = " — a DNS lookup confirms the name does not exist (NXDOMAIN)" if confirmed else ""
    return f"The application is configured to connect to `{name}`, which does not resolve{tail}{where}. " \
           "The configured hostname (e.g. in a ConfigMap or environment variable) is wrong."


def _db(f: Finding, others: list[Finding]) -> str:
    idle = _of([f, *others], "db-idle-in-transaction")
    refused = _of([f, *others], "db-max-connections")
    pool = _of([f, *others], "connection-pool-exhausted")
    parts = []
    if idle:
        parts.append(f"{idle.facts.get('idle_in_transaction')} PostgreSQL sessions are stuck `idle in transaction` "
                     f"(client {idle.facts.get('client') or '?'}), holding connection slots without finishing")
    if refused:
        parts.append("the server has reached max_connections and refuses new clients "
                     "(\"too many clients\" / reserved slots)")
    if pool:
        parts.append(f"the application's pool {pool.facts.get('pool')} is exhausted, so requests time out")
    text = "; ".join(parts) or f.title
    return text[0].upper() + text[1:] + ". A client is leaking database sessions (transactions never closed)."


def _simple(template: str) -> Callable[[Finding, list[Finding]], str]:
    return lambda f, others: template.format(title=f.title, **{k: v for k, v in f.facts.items()})


def _oom(f: Finding, others: list[Finding]) -> str:
    x = f.facts
    if x.get("container"):
        limit = f" of {x['memory_limit']}" if x.get("memory_limit") else ""
        return f"Container `{x['container']}` in pod `{x.get('pod')}` is killed for exceeding its memory " \
               f"limit{limit}: Last State OOMKilled, exit code {x.get('exit_code')}, {x.get('restarts')} restarts."
    return f"The kernel's OOM killer killed {x.get('process') or 'a process'}: the host or cgroup ran out of memory."


def _image(f: Finding, others: list[Finding]) -> str:
    x = f.facts
    why = {"tag-not-found": "does not exist in the registry (tag not found / manifest unknown)",
           "unauthorized": "is refused by the registry (not authorized)",
           "registry-unreachable": "cannot be fetched (registry unreachable)"}.get(x.get("cause") or "", "cannot be pulled")
    return f"Pod `{x.get('pod')}` cannot start because image `{x.get('image') or '?'}` {why}" + \
        (f"; deployment `{x['deployment']}` references it." if x.get("deployment") else ".")


def _disk(f: Finding, others: list[Finding]) -> str:
    df = next((o for o in [f, *others] if o.signature == "disk-full" and o.facts.get("mount")), None)
    enospc = next((o for o in [f, *others] if o.signature == "disk-full" and not o.facts.get("mount")), None)
    text = ""
    if df:
        text = f"{df.facts['mount']} is {df.facts.get('use_percent')}% full ({df.facts.get('kind', 'space')})"
        if df.facts.get("largest"):
            text += f"; the largest item is {df.facts['largest'][0]}"
    if enospc:
        text += ("; " if text else "") + "writes fail with \"No space left on device\"" + (
            f" ({enospc.facts['path']})" if enospc.facts.get("path") else "")
    return text[0].upper() + text[1:] + "."


def _crash(f: Finding, others: list[Finding]) -> str:
    x = f.facts
    return f"Pod `{x.get('pod')}` is crash-looping (last exit code {x.get('exit_code', '?')}, " \
           f"{x.get('restarts', '?')} restarts); its logs do not show a more specific cause than the exit itself."


def _conn(f: Finding, others: list[Finding]) -> str:
    x = f.facts
    what = "refuses connections" if f.signature == "connection-refused" else "does not answer (timeouts)"
    return f"The dependency at {x.get('host') or '?'}:{x.get('port') or '?'} {what}, so requests that need it " \
           "fail; nothing listening there (or a firewall) is the next thing to confirm."


CAUSES: dict[str, Callable[[Finding, list[Finding]], str]] = {
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
    "connection-timeout": _conn,
    "config-test-failed": lambda f, o: f"The configuration is invalid at {f.facts.get('file')}:{f.facts.get('line')}"
    + (f" ({f.facts['message']})" if f.facts.get("message") else "") + ", so the service will not (re)start.",
    "tls-cert-expired": lambda f, o: f"The TLS certificate for {f.facts.get('host') or 'the site'} has expired"
    + (f" (notAfter={f.facts['not_after']}" if f.facts.get("not_after") else " (")
    + (f", {-int(f.facts['days_left'])} days ago)" if f.facts.get("days_left") is not None else ")")
    + "; clients reject the connection with \"certificate has expired\".",
    "tls-cert-expiring": _simple("{title}; it is not expired yet."),
    "permission-denied": _simple("The service is denied access: {title}."),
    "pod-unschedulable": _simple("{title}."),
    "probe-failing": _simple("{title}; the kubelet marks the pod unhealthy."),
    "unit-failed": _simple("{title}; its log does not show a more specific cause."),
    "http-error-status": _simple("{title}; the cause behind it was not found in what I could check."),
    "dns-timeout": _simple("{title}."),
}


def cause_sentence(conv: Conversation, main: Finding, findings: list[Finding]) -> str:
    others = [f for f in findings if f is not main]
    fn = CAUSES.get(main.signature)
    try:
        return fn(main, others) if fn else f"{main.title}."
    except (KeyError, TypeError, ValueError, IndexError):
        return f"{main.title}."
