"""Which checks come next: the obvious first ones, then hop by hop along the evidence.

Three sources, in this order of trust: what the findings say to check next (their
`next_checks`), what a result implies even without a finding (a healthy service the
engineer says is broken → its logs), and the opening moves for what the message names.
"""

from __future__ import annotations

import re

from assistant.events import Finding
from assistant.findings import rank
from assistant.findings.k8s_text import PodRow, deployment_of, parse_describe, parse_pod_list
from assistant.findings.signatures import ends_investigation
from assistant.runbook.checks import Check, admissible
from assistant.runbook.conversation import CallRecord, Conversation
from assistant.runbook.entities import (
    ALIASES,
    HINTS,
    KNOWN_SERVICES,
    ROLE_OF,
    Entities,
    k8s_name,
    place_words,
    released,
    relevant,
    service_namespaces,
)
from assistant.runbook.leads import (
    described_units,
    fd_checks,
    listen_lines,
    refused_upstream_ports,
    upstream_services,
)
from assistant.runbook.logplaces import (
    PROCESS_OF,
    configured,
    conventional,
    log_kind,
    naming_config,
    process_name,
)

WEB_SERVERS = {"nginx", "apache2", "httpd", "haproxy", "caddy", "traefik", "envoy", "varnish"}
DB_ENGINES = {"postgresql", "mysql", "mariadb", "mongod"}
_NOT_FOUND = re.compile(r"could not be found|not-found|No such file or directory|not found", re.IGNORECASE)
_HEALTHY_UNIT = re.compile(
    r"Active:\s+active \((?:running|exited)\)|"
    r"Active:\s+inactive \(dead\)(?=[\s\S]*status=0/SUCCESS)(?![\s\S]*status=[1-9])"
)
"""Running, or a oneshot/timer job that finished with exit 0 (inactive (dead) is its normal resting state)."""
_PG = re.compile(
    r"/usr/lib/postgresql/(?P<v>\d+)/bin/postgres\s+-D\s+\S*/(?P=v)/(?P<c>[\w-]+)|"
    r"postgres: (?P<v2>\d+)/(?P<c2>[\w-]+): |postgresql@(?P<v3>\d+)-(?P<c3>[\w-]+)"
)
_WRAPPER = re.compile(r"ExecStart=/bin/true\b")
KERNEL_SIGNS = {"timeout", "refused", "slow", "crash", "memory", "disk", "down"}
"""Complaints the kernel may explain when the service itself looks fine (drops, OOM kills, I/O errors)."""
TROUBLE = {
    "error",
    "5xx",
    "down",
    "timeout",
    "refused",
    "crash",
    "slow",
    "database",
    "dns",
    "cert",
    "disk",
    "memory",
    "permission",
    "port",
    "evicted",
    "pending",
    "image",
}


def namespace(conv: Conversation, ents: Entities) -> str:
    if ents.namespaces:
        return ents.namespaces[0]
    real = [n for n in conv.namespaces if n not in ("default", "kube-system")]
    return real[0] if len(real) == 1 else "default"


def k8s_mode(conv: Conversation, ents: Entities) -> bool:
    has_k8s_tools = "list_pods" in conv.tools or "pod_describe" in conv.tools
    if not has_k8s_tools:
        return False
    if conv.target_kind == "kubernetes" or "kubernetes" in conv.environment:
        return not (ents.services and not ents.k8s and "service_status" in conv.tools and conv.hosts)
    host_env = conv.target_kind in ("local", "host") or conv.environment == "host" or bool(conv.hosts)
    return ents.k8s or (bool(conv.namespaces) and not host_env) or "service_status" not in conv.tools


# ------------------------------------------------------------------ opening moves


def initial_checks(conv: Conversation, ents: Entities) -> list[Check]:
    return _k8s_opening(conv, ents) if k8s_mode(conv, ents) else _host_opening(conv, ents)


def named_namespace(conv: Conversation, ents: Entities) -> bool:
    """Does the conversation say where the pods are (the message, a pasted listing, the target's one namespace)?"""
    return bool(ents.namespaces) or namespace(conv, ents) != "default"


def _k8s_opening(conv: Conversation, ents: Entities) -> list[Check]:
    if not named_namespace(conv, ents) and _offers_all_namespaces(conv):
        why = "no namespace was named: list the pods of every namespace (kubectl get pods -A)"
        return [Check("list_pods", {"all_namespaces": True}, why, "open")]
    ns = namespace(conv, ents)
    out = [
        Check("pod_describe", {"pod": p, "namespace": ns}, f"describe pod {p}", "open") for p in ents.pods[:2]
    ]
    out.append(Check("list_pods", {"namespace": ns}, f"see the pods in namespace {ns}", "open"))
    if ents.symptoms & {"pending", "image"} and not ents.pods:
        out.append(Check("k8s_events", {"namespace": ns}, f"recent events in {ns}", "open"))
    if "rollout_status" in conv.tools and ents.deployments and _ROLLOUT_WORDS.search(" ".join(conv.users)):
        d = ents.deployments[0]
        out.append(
            Check("rollout_status", {"deployment": d, "namespace": ns}, f"where {d}'s rollout stands", "open")
        )
    return out


_ROLLOUT_WORDS = re.compile(
    r"\b(?:rollout|rolled out|roll(?:ing)? out|deploy(?:ed|ment|s)?|release[ds]?)\b", re.I
)
"""A named workload plus one of these: the Deployment's rollout state is worth a look."""


def named_logs(ents: Entities) -> list[str]:
    """Log files the engineer named (a path under a log directory or ending in .log / .err / .out)."""
    return [p for p in ents.paths if re.search(r"/logs?/|\.(?:log|err|out)(?:\.\d+)?$|/var/log\b", p)]


def quoted_checks(ents: Entities) -> list[Check]:
    """The error text the engineer quoted, read like any output: the checks its findings point to."""
    from assistant.findings import analyze_text

    out = []
    for q in ents.quotes[:3]:
        for f in analyze_text("quote", q):
            out += [
                Check(c.tool, dict(c.args), f"the quoted error points there: {f.title}", "open")
                for c in f.checks
            ]
    return out


CRON_JOB = re.compile(r"\bcron(?:tab)?\b|\bcron ?jobs?\b|\bfrom cron\b", re.IGNORECASE)
"""A job that runs from cron: its runs are in the system log (CRON lines), its output in its own log."""


def _host_opening(conv: Conversation, ents: Entities) -> list[Check]:
    out: list[Check] = [
        Check("log_tail", {"source": p, "lines": 200}, f"read the log you named, {p}", "open")
        for p in named_logs(ents)[:2]
    ]
    out += [
        Check("log_tail", {"source": path, "lines": 200}, f"read the {s} log you named", "open")
        for s in ents.logs_of
        if (path := own_log(conv, s))
    ][:2]
    out += quoted_checks(ents)
    for url in ents.urls[:1]:  # the engineer's own symptom, reproduced first
        out.append(Check("http_check", {"url": url}, f"reproduce the symptom on {url}", "open"))
    if CRON_JOB.search(conv.request) and not named_logs(ents):  # cron logs each run (CMD) to the system log
        out.append(Check("log_tail", {"source": "/var/log/syslog", "lines": 200}, "read cron's runs", "open"))
    if ents.guessed and not any(known_software(s) for s in ents.services):  # a name guessed from a host name
        out.append(Check("process_list", {}, "no service was named: see what actually runs there", "open"))
    for svc in ents.services[:2]:
        out.append(Check("service_status", {"service": svc}, f"check the state of {svc}", "open"))
    out += _hinted(ents)
    if "port" in ents.symptoms:
        out += [Check("port_owner", {"port": p}, f"see who holds port {p}", "open") for p in ents.ports[:1]]
    if "cert" in ents.symptoms:
        for host in (ents.fqdns or ents.hosts)[:1]:
            port = next((p for p in ents.ports if p != 80), 443)
            out.append(
                Check("tls_certificate", {"host": host, "port": port}, f"read {host}'s certificate", "open")
            )
    if "disk" in ents.symptoms:
        for path in [p for p in ents.paths if p not in named_logs(ents)][:1] or ["/", "/var"]:
            out.append(Check("disk_usage", {"path": path}, "see how full the disks are", "open"))
    if "dns" in ents.symptoms:
        out += [Check("dns_lookup", {"name": n}, f"resolve {n}", "open") for n in ents.fqdns[:1]]
    if ents.symptoms & {"slow", "memory"}:
        out.append(Check("host_resources", {}, "look at load and memory", "open"))
    if "port" not in ents.symptoms and ents.symptoms & {"refused", "down", "timeout"}:  # who listens there
        out += [
            Check("port_owner", {"port": p}, f"see what listens on port {p}", "open") for p in ents.ports[:1]
        ]
        here = {h.lower() for h in [conv.target_name, *conv.hosts] if h}
        out += [  # a dependency named by host:port: does its name resolve, and to what?
            Check("dns_lookup", {"name": h}, f"resolve {h}, the endpoint that fails", "open")
            for h, _ in ents.endpoints[:1]
            if h not in here and not re.fullmatch(r"[\d.]+", h)
        ]
    if not (ents.services or ents.urls or ents.ports or ents.paths or ents.fqdns) and len(out) < 2:
        out += _generic_triage(ents)  # a question about the host as a whole: the standard overview
    return list({(c.name, str(sorted(c.args.items()))): c for c in out}.values())[:4]


def _hinted(ents: Entities) -> list[Check]:
    """The usual suspects for a symptom when the message names no such service (cache, DNS, DB, proxy)."""
    out = []
    named = set(ents.services)
    for symptom, services in HINTS.items():
        if symptom in ents.symptoms and not named & set(services) and not (symptom == "dns" and ents.fqdns):
            out += [Check("service_status", {"service": svc}, f"check {svc}", "open") for svc in services]
    if "database" in ents.symptoms and not named & DB_ENGINES:
        # which engine is not said: the process table shows which one runs here (a guess would miss MySQL)
        out.append(Check("process_list", {}, "see which database server runs here", "open"))
    proxy_error = (  # a proxy's error (502/504) or a web complaint about nothing named: the web server's log
        ("gateway" in ents.symptoms or ("web" in ents.symptoms and (not named or ents.guessed)))
        and not named & WEB_SERVERS
        and not ents.logs_of
    )
    if proxy_error or (ents.symptoms & {"5xx", "timeout"} and not named and not ents.urls and not ents.paths):
        out.append(
            Check(
                "log_tail",
                {"source": "/var/log/nginx/error.log", "lines": 100},
                "read the web server's error log",
                "open",
            )
        )
    return out


def _generic_triage(ents: Entities) -> list[Check]:
    out = []
    if ents.fqdns and ents.symptoms & {"5xx", "down", "timeout"}:
        out.append(Check("http_check", {"url": f"https://{ents.fqdns[0]}/"}, "reproduce the symptom", "open"))
    out += [
        Check("host_resources", {}, "get an overview of the host", "open"),
        Check("disk_usage", {"path": "/"}, "check disk space", "open"),
        Check("process_list", {}, "see what is running", "open"),
    ]
    return out


# ------------------------------------------------------------------ along the evidence


def finding_checks(
    conv: Conversation, findings: list[Finding] | None = None, names: list[str] | None = None
) -> list[Check]:
    """`next_checks` of findings (default: this turn's), about what was named first, then most causal first;
    one pod per deployment."""
    out = []
    described = {
        (c.name, deployment_of(str(c.args.get("pod"))))
        for c in conv.this_turn()
        if c.name in ("pod_describe", "pod_logs")
    }
    findings = conv.findings(this_turn_only=True) if findings is None else findings
    findings = sorted(findings, key=lambda f: (not relevant(f, names or []), -rank(f)))
    homes = {  # the named workloads' namespaces: another namespace's sick pods are not what was asked about
        str(c.args.get("namespace"))
        for f in findings
        if names and relevant(f, names)
        for c in f.checks
        if c.tool in ("pod_describe", "pod_logs") and c.args.get("namespace")
    }
    for f in findings:
        for nxt in f.checks:
            name, args = nxt.tool, dict(nxt.args)
            if homes and name in ("pod_describe", "pod_logs") and str(args.get("namespace")) not in homes:
                continue
            if name in ("pod_describe", "pod_logs"):  # one pod per deployment says it for all of them
                owner = (name, deployment_of(str(args.get("pod"))))
                if owner[1] and owner in described:
                    continue
                described.add(owner)
            out.append(Check(name, args, f"follow up: {f.title}", f.signature))
    return out


def own_words(conv: Conversation, conclusive: list[Finding]) -> list[Check]:
    """A cause seen only in systemd's status lines (an exit, a kill): the unit's journal holds the program's own
    last words, which say why (a heap limit, a missing file) where the status shows only that it died."""
    by_id = {c.id: c for c in conv.calls}
    read = {str(c.args.get("source")) for c in conv.this_turn() if c.name == "log_tail"}
    out = []
    for f in conclusive:
        found = [by_id.get(ev.call_id) for ev in f.evidence]
        calls = [c for c in found if c is not None]
        status_only = (
            bool(calls) and len(calls) == len(found) and all(c.name == "service_status" for c in calls)
        )
        # a program's own line in the status tail names its process (java), not its unit: the call names the unit
        unit = str(
            f.facts.get("unit")
            or f.facts.get("service")
            or (calls[0].args.get("service") if status_only else "")
        )
        if unit and status_only:
            if f"unit:{unit}" not in read:
                out.append(
                    Check(
                        "log_tail", {"source": f"unit:{unit}", "lines": 100}, f"read {unit}'s journal", "own"
                    )
                )
            elif _only_systemd(conv, f"unit:{unit}") or not _stated(conv, f"unit:{unit}", f):
                # the program logs elsewhere, or its journal names no cause: its own file says why
                files = [*configured(conv, unit), *(conventional(conv, unit) if log_kind(unit) else [])]
                out += [
                    Check("log_tail", {"source": p, "lines": 100}, f"read {unit}'s own log", "own")
                    for p in [p for p in dict.fromkeys(files) if p not in read][:2]
                ]
    return out


def _stated(conv: Conversation, source: str, status: Finding) -> bool:
    """Did reading this log this turn give a finding of its own (beyond the unit's exit the status showed)?"""
    return any(
        f.severity != "info" and f.signature != status.signature
        for c in conv.this_turn()
        if c.name == "log_tail" and c.args.get("source") == source
        for f in c.findings
    )


_SYSTEMD_LINE = re.compile(r"\bsystemd\[1\]: |^-- (?:No entries|Logs begin|Boot) |^\s*$")


def _only_systemd(conv: Conversation, source: str) -> bool:
    """The unit's journal holds only systemd's own lines (Starting, exited, Failed): the program said nothing
    there, so the failure's reason is in the log file it writes itself."""
    calls = [c for c in conv.this_turn() if c.name == "log_tail" and c.args.get("source") == source]
    return any(
        c.answered and not c.failed and all(_SYSTEMD_LINE.search(ln) for ln in c.output.splitlines())
        for c in calls
    )


_SERVERS = {
    "nginx": r"nginx: master process|/usr/sbin/nginx\b",
    "apache2": r"/usr/sbin/apache2\b",
    "httpd": r"/usr/sbin/httpd\b",
    "haproxy": r"/usr/sbin/haproxy\b",
    "caddy": r"/usr/bin/caddy\b",
    "traefik": r"\btraefik\b",
    "envoy": r"/usr/local/bin/envoy\b|\benvoy -c\b",
}


def tls_server(conv: Conversation) -> str | None:
    """The web server terminating TLS on this host, from process listings or the engineer's words."""
    for c in conv.calls:
        if c.name in ("process_list", "service_status", "port_owner"):
            for name, rx in _SERVERS.items():
                if re.search(rx, c.output):
                    return name
            for owner in re.findall(r'users:\(\("([\w.-]+)"', c.output):  # ss: the process holding the port
                if owner in _SERVERS:
                    return owner
    return None


_RENEWED = re.compile(
    r"\brenew(?:ed|al)?\b|\bnew (?:cert|certificate)\b|\bcertbot\b|\breplaced the cert", re.I
)


def tls_refinements(conv: Conversation, ents: Entities, conclusive: list[Finding]) -> list[Check]:
    """A certificate renewed on disk but not served: did the server try to load it and fail (a key that does
    not match, a path it cannot read)? Its state and its error log say, before anyone is told to reload it."""
    from assistant.findings.signatures import SIGNATURES

    renewed = bool(_RENEWED.search(" ".join(conv.users))) and any(
        f.signature.startswith("tls-cert-") for f in conclusive
    )  # 'we renewed it' and the old one is still served: the server did not (or could not) load the new one
    if not renewed and not any(
        getattr(SIGNATURES.get(f.signature), "then_restart", None) == "tls-server" for f in conclusive
    ):
        return []
    server = tls_server(conv) or next((s for s in ents.services if s in WEB_SERVERS), None)
    if server is None:  # who serves TLS here is not known: the owner of the port the certificate was read on
        ports = {int(c.args.get("port") or 443) for c in conv.calls if c.name == "tls_certificate"} or {443}
        why = "which server holds the TLS port (it must load the new certificate)?"
        return [Check("port_owner", {"port": p}, why, "tls") for p in sorted(ports)[:1]]
    return [
        Check(
            "service_status", {"service": server}, f"did {server} fail to load the new certificate?", "tls"
        ),
        *log_sources(conv, server),
    ]


_K8S_SVC = re.compile(r"^(?P<svc>[a-z0-9-]+)\.(?P<ns>[a-z0-9-]+)\.svc(?:\.cluster\.local)?$")


def refinements(conv: Conversation, conclusive: list[Finding], ents: Entities | None = None) -> list[Check]:
    """Cheap checks that turn a conclusive finding into a complete story (why now, what else)."""
    out = finding_checks(conv, conclusive)
    out += own_words(conv, conclusive)
    out += fd_checks(conv) + upstream_checks(conv)
    out += listen_checks(conv, ents) if ents is not None else []
    out += tls_refinements(conv, ents, conclusive) if ents is not None else []
    out += _other_sick_rows(conv, ents) if ents is not None else []
    out += k8s_refinements(conv, conclusive)
    namespaces = {str(c.args["namespace"]) for c in conv.calls if c.args.get("namespace")}
    for f in conclusive:
        out += (
            data_owner_checks(conv, str(f.facts.get("path") or f.facts.get("mount") or ""))
            if f.signature == "disk-full"
            else []
        )
        m = _K8S_SVC.match(str(f.facts.get("name") or ""))
        if f.signature == "dns-nxdomain" and m:
            for ns in sorted(namespaces - {m.group("ns")}):
                name = f"{m.group('svc')}.{ns}.svc.cluster.local"
                out.append(
                    Check(
                        "dns_lookup",
                        {"name": name},
                        f"does {m.group('svc')} exist in namespace {ns}?",
                        "dns-alt",
                    )
                )
    return out


NODE_BLAMED = {"pod-evicted", "node-condition"}
"""Conclusive findings a node's state explains: its conditions (pressure, NotReady) and labels are the rest."""


def k8s_refinements(conv: Conversation, conclusive: list[Finding]) -> list[Check]:
    """A pod's failure found in the events or a listing: the pod's describe holds the exact error (the
    registry's reply to a pull); an eviction or a pod no node accepts: the nodes' conditions and labels."""
    out: list[Check] = []
    for f in conclusive:
        pod, ns = f.facts.get("pod"), f.facts.get("namespace")
        if f.signature == "image-pull-failed" and pod and ns and not _described(conv, str(pod)):
            why = f"describe {pod}: its events hold the registry's exact reply"
            out.append(Check("pod_describe", {"pod": pod, "namespace": ns}, why, "refine-k8s"))
        node_bound = f.signature in NODE_BLAMED or (
            f.signature == "pod-unschedulable" and set(f.facts.get("why") or []) & {"selector", "taint"}
        )
        if node_bound and "node_status" in conv.tools:
            why = "a node's state or labels decide this: the nodes' conditions"
            out.append(Check("node_status", {}, why, "refine-nodes"))
            for node in _pods_nodes(conv, str(pod or ""))[:1]:
                why = f"describe node {node}, where {pod} ran: its conditions, taints and labels"
                out.append(Check("node_status", {"node": node}, why, "refine-nodes"))
    return out


def node_trouble_checks(conv: Conversation) -> list[Check]:
    """A node in trouble (PLEG, a kubelet that does not answer, NodeLost): the nodes' conditions, then the node
    the troubled pods were placed on (their describe's `Node: NAME/IP` line) described."""
    out = [Check("node_status", {}, "a node is in trouble: the nodes' conditions", "nodes")]
    nodes = list(dict.fromkeys(n for c in conv.calls if (n := _node_of(c))))
    for node in nodes[:2]:
        why = f"describe node {node}, where the troubled pods ran: its conditions and events"
        out.append(Check("node_status", {"node": node}, why, "nodes"))
    return out


def _described(conv: Conversation, pod: str) -> bool:
    return any(c.name == "pod_describe" and c.args.get("pod") == pod and c.answered for c in conv.calls)


def _node_of(c: CallRecord) -> str | None:
    """The node a described pod was placed on (its describe's `Node: ip-10-0-1-5.ec2.internal/10.0.1.5`)."""
    if c.name != "pod_describe" or not c.answered or c.failed:
        return None
    pod = parse_describe(c.output)
    return pod.node if pod else None


def _pods_nodes(conv: Conversation, pod: str) -> list[str]:
    return [n for c in conv.calls if c.args.get("pod") == pod and (n := _node_of(c))]


_DATA_DIR = re.compile(r"^/var/(?:lib|log|spool|cache)/(?P<name>[a-z][\w.-]*)")


def data_owner_checks(conv: Conversation, path: str) -> list[Check]:
    """A full filesystem under a service's data directory: what that service logs says about why it grows."""
    m = _DATA_DIR.match(path)
    if not m:
        return []
    svc = ALIASES.get(m.group("name"), m.group("name"))
    return [
        Check("process_list", {"match": process_name(svc)}, f"{svc} owns {path}: its processes", "owner"),
        *log_sources(conv, svc),
    ]


def result_checks(conv: Conversation, ents: Entities) -> list[Check]:
    """What results imply without a finding: logs of a service said to be broken, unhealthy pods, ..."""
    out: list[Check] = []
    troubled = bool(ents.symptoms & TROUBLE)
    has_cause = any(  # a cause, or a specific lead whose own next checks are still being followed
        ends_investigation(f.signature, f.facts)
        or (rank(f) >= 60 and admissible(conv, [Check(c.tool, dict(c.args)) for c in f.checks]))
        for f in conv.findings(this_turn_only=True)
    )
    out += fd_checks(conv) + upstream_checks(conv)
    out += listen_checks(conv, ents) if ents is not None else []
    if not k8s_mode(conv, ents):  # the service the engineer described in words, by the names seen running
        checked = {str(c.args.get("service")) for c in conv.this_turn() if c.name == "service_status"}
        for svc in described_units(conv, checked | set(ents.services) - not_units(conv)):
            out += discovered_checks(conv, svc)
    out += _dependency_pods(conv)
    out += _full_where(conv)
    out += mentioned_logs(conv)
    if k8s_mode(conv, ents):
        out += cluster_dns_checks(conv) + _component_logs(conv)
    else:
        out += _hosts_file(conv, ents, troubled)
    for c in conv.this_turn():
        if (
            c.name == "pod_logs"
            and c.answered
            and c.args.get("previous")
            and (c.failed or not c.output.strip())
        ):
            current = {k: v for k, v in c.args.items() if k != "previous"}
            out.append(
                Check(
                    "pod_logs",
                    current,
                    "the previous instance's logs are not there: read the current ones",
                    "logs-current",
                )
            )
        if c.name == "service_status" and c.answered and c.failed and not c.output.strip():
            out += missing_unit(conv, str(c.args.get("service", "")), ents.ports)  # no answer: a gap
        if c.name == "pod_describe" and c.answered and c.failed:  # the describe is a gap: its Events live on
            pns = str(c.args.get("namespace") or "default")
            why = f"the describe of {c.args.get('pod')} could not run: the events of {pns} say the same"
            out.append(Check("k8s_events", {"namespace": pns}, why, "describe-gap"))
            out += _siblings(conv, str(c.args.get("pod") or ""), pns)
        if (
            c.name in ("k8s_events", "pod_describe", "pod_logs")
            and c.answered
            and "node_status" in conv.tools
            and _NODE_TROUBLE.search(_TOLERATION.sub("", c.output[:20000]) + (c.error or ""))
        ):
            out += node_trouble_checks(conv)
        if not c.answered or c.failed:
            continue
        if c.name == "service_status":
            out += _after_service(conv, c, troubled, has_cause, ents.ports)
        elif c.name == "list_pods":
            status = {r.name: r.status for r in parse_pod_list(c.output)}

            described = {
                _pod_kind(x.args.get("pod"), status) for x in conv.this_turn() if x.name == "pod_describe"
            }
            out += [x for x in _after_pods(c, ents) if _pod_kind(x.args.get("pod"), status) not in described]
            if "node_status" in conv.tools and NODE_BOUND & set(status.values()):
                why = "pods are pending, evicted or stuck terminating: the nodes' conditions"
                out.append(Check("node_status", {}, why, "nodes"))
                out += node_trouble_checks(conv)[1:]
        elif c.name == "pod_describe" and (not c.findings or init_stuck(c.output) or not has_cause):
            out += _after_describe(c, troubled)

        elif c.name == "port_owner" and c.exit_code not in (0, None):
            out += _after_free_port(c)
        elif c.name == "http_check":
            out += _after_http(c)
        elif c.name == "process_list" and "database" in ents.symptoms and pg_cluster(conv):
            out += log_sources(conv, "postgresql")
        elif c.name == "process_list" and c.output.strip() and not c.args.get("match"):
            if CRON_JOB.search(conv.request) and any(
                f.severity in ("medium", "high", "critical") for f in conv.findings(this_turn_only=True)
            ):
                continue  # a cron job's own log said why: the servers it talks to are not the subject
            out += [x for svc in fitting(conv, ents, c.output)[:2] for x in discovered_checks(conv, svc)]
        elif c.name == "process_list" and c.output.strip():
            out += [
                x
                for svc in _unit_missing(conv, str(c.args.get("match") or ""))
                for x in log_sources(conv, svc)
            ]
    return out


_NODE_TROUBLE = re.compile(
    r"\b(?:NodeNotReady|NotReady|(?:Memory|Disk|PID)Pressure|EvictionThresholdMet|NodeHasInsufficient\w+"
    r"|node\.kubernetes\.io/(?:not-ready|unreachable|memory-pressure|disk-pressure|pid-pressure))\b"
    r"|The node was low on resource|node\(s\) didn't match Pod's node affinity"
    r"|PLEG is not healthy|\bNodeLost\b|Kubelet stopped posting node status|node\(s\) (?:were|was) (?:unreachable|not ready)"
    r"|:10250/|\bkubelet\b[^\n]{0,80}\b(?:unreachable|timed? ?out|timeout|refused|not responding)"
)
"""Event or describe text that blames a node: pressure, NotReady, an eviction for low resources."""

_TOLERATION = re.compile(r"^(?:Tolerations:)?\s+node\.kubernetes\.io/[\w-]+:No\w+.*$", re.MULTILINE)
"""A describe's default tolerations (`node.kubernetes.io/not-ready:NoExecute op=Exists for 300s`): every pod
carries them, so they blame no node."""

_UNREACHED = ("connection-refused", "connection-timeout", "error-lines", "dns-timeout")


def _hosts_file(conv: Conversation, ents: Entities, troubled: bool) -> list[Check]:
    """A name that resolves in DNS yet cannot be reached from here (the engineer's, or an error line's):
    read /etc/hosts, which the system resolver consults before DNS."""
    from assistant.runbook.crosscheck import resolver_checks

    names = [
        str(f.facts.get("host")) for f in conv.findings() if f.signature in _UNREACHED and f.facts.get("host")
    ]
    names += [
        m.group(0)
        for f in conv.findings()
        if f.signature == "error-lines"
        for m in re.finditer(r"\b(?:[a-z0-9-]+\.)+[a-z][a-z0-9-]+\b", str(f.facts.get("message", "")).lower())
    ]
    if troubled and ents.symptoms & {"refused", "timeout", "dns", "error", "down"}:
        names += ents.fqdns
    return [
        Check(n.tool, dict(n.args), "DNS answers: does /etc/hosts override it here?", "resolver")
        for n in resolver_checks(conv, names)
    ]


_DATA_DIR_SEEN = re.compile(
    r"(?:\s-D\s+|\bdatadir\s*=\s*|\bdata_directory\s*=\s*'?|\bdbpath:?\s+|\bpath\.data:?\s+|"
    r"\bdir(?:ectory)?\s*[=:]\s*)(/[\w./-]+)"
)
_ABS_PATH = re.compile(r"(?<![\w.])(/(?:var|srv|data|mnt|opt|home|tmp)/[\w./@-]+)")


def _dir_of(path: str) -> str:
    """A file a failed write names often never came to exist (a batch's temporary file): df its directory."""
    head, _, last = path.rpartition("/")
    return head if head and "." in last.strip(".") else path


def _full_where(conv: Conversation) -> list[Check]:
    """'No space left on device' without the filesystem it hit: the filesystem of the path the error names,
    else of the data directory the service runs with (often its own mount, unlike '/')."""
    lines = [
        ln
        for f in conv.findings(this_turn_only=True)
        if f.signature == "disk-full" and not f.facts.get("mount")
        for ev in f.evidence
        for ln in ev.lines
    ]
    if not lines:
        return []
    paths = [_dir_of(m.group(1).rstrip(".:,'\"")) for ln in lines for m in _ABS_PATH.finditer(ln)]
    paths += [m.group(1).rstrip(".:,'\"") for c in conv.calls for m in _DATA_DIR_SEEN.finditer(c.output)]
    if pg_cluster(conv):
        version, cluster = str(pg_cluster(conv)).split("-", 1)
        paths.append(f"/var/lib/postgresql/{version}/{cluster}")
    return [
        Check("disk_usage", {"path": p}, f"which filesystem holds {p}, and how full is it?", "full-where")
        for p in list(dict.fromkeys(paths))[:2]
    ]


def known_software(svc: str) -> bool:
    """Is this the name of software with a known unit, process or log file (not a site's own service)?"""
    return bool(log_kind(svc)) or svc in KNOWN_SERVICES or svc in PROCESS_OF


def _spellings(svc: str) -> list[str]:
    """Other spellings of an exporter's unit name (a_b for a-b and back: upstream exporters use underscores); a
    packaged exporter's name without its vendor prefix (prometheus-pgbouncer-exporter → pgbouncer_exporter)."""
    parts = re.split(r"[-_]", svc)
    if len(parts) == 2 and parts[1] == "exporter":  # Prometheus' own exporters: node_exporter, redis_exporter
        return [x for x in dict.fromkeys(["_".join(parts), "-".join(parts)]) if x != svc]
    if len(parts) == 3 and parts[0] == "prometheus":
        return ["_".join(parts[1:]), "-".join(parts[1:])]
    return []


def missing_unit(conv: Conversation, svc: str, ports: list[int]) -> list[Check]:
    """A unit that does not exist under that name is a gap, not an answer. Known software is looked for by its
    process name (php-fpm runs as php8.2-fpm); any other name may be a word, not a unit, so the whole process
    table and the owners of the ports involved say what actually runs there."""
    if known_software(svc):
        name = process_name(svc)
        return [
            Check("process_list", {"match": name}, f"{svc} is not a known unit: look for its process", "svc")
        ]
    spelled = [  # units are spelled both ways: pgbouncer-exporter, pgbouncer_exporter
        Check("service_status", {"service": alt}, f"{svc} is not a unit here: try {alt}", "svc")
        for alt in _spellings(svc)
        if not any(h.lower().startswith(svc) for h in [conv.target_name, *conv.hosts] if h)  # not a host's
    ]
    out = [*spelled, Check("process_list", {}, f"{svc} is not a unit here: see what actually runs", "svc")]
    out += [Check("port_owner", {"port": p}, f"see what listens on port {p}", "svc") for p in ports[:1]]
    return out


def _after_service(
    conv: Conversation, c: CallRecord, troubled: bool, has_cause: bool, ports: list[int] | None = None
) -> list[Check]:
    """A unit's state is half the story: its logs are read too, even when it looks running (a daemon that
    refuses clients, or a replica that stopped applying, is still `active (running)`), unless nothing is
    reported wrong and a request just showed it serving."""
    svc = str(c.args.get("service", ""))
    if c.exit_code == 4 or _NOT_FOUND.search(c.output[:300]):
        return missing_unit(conv, svc, ports or [])
    healthy = bool(_HEALTHY_UNIT.search(c.output))
    if has_cause or (healthy and not troubled and _served(conv)):
        return []
    if _WRAPPER.search(c.output) and "@" not in svc:
        return _after_wrapper(conv, svc)
    return log_sources(conv, svc)


RUNNING = {
    "mysql": r"/mysqld\b|\bmysqld\s",
    "mariadb": r"\bmariadbd\b",
    "postgresql": r"\bpostgres(?:ql)?/\d+/bin/postgres\b|\bpostgres: |/bin/postgres\s+-D",
    "mongod": r"\bmongod\b",
    "redis-server": r"\bredis-server\b",
    "memcached": r"\bmemcached\b",
    "elasticsearch": r"org\.elasticsearch\.bootstrap|/usr/share/elasticsearch\b",
    "opensearch": r"org\.opensearch\.bootstrap",
    "rabbitmq-server": r"\brabbit(?:mq)?\b.*beam|beam\.smp.*\brabbit",
    "nginx": r"nginx: master process",
    "apache2": r"/usr/sbin/apache2\b",
    "httpd": r"/usr/sbin/httpd\b",
    "haproxy": r"/usr/sbin/haproxy\b",
    "php-fpm": r"php-fpm: master process|php-fpm[\d.]*\s",
    "kafka": r"kafka\.Kafka\b",
}
"""How a running server shows in the process table (its master process or its JVM's main class)."""
ROLE_WORDS = {
    "search": {"elasticsearch", "opensearch"},
    "es": {"elasticsearch", "opensearch"},
    "elastic": {"elasticsearch"},
    "index": {"elasticsearch", "opensearch"},
    "indexing": {"elasticsearch", "opensearch"},
    "cache": {"redis-server", "memcached"},
    "db": DB_ENGINES,
    "sql": {"mysql", "mariadb", "postgresql"},
    "replica": DB_ENGINES,
    "www": WEB_SERVERS | {"php-fpm"},
    "web": WEB_SERVERS | {"php-fpm"},
    "lb": WEB_SERVERS,
    "edge": WEB_SERVERS,
    "proxy": WEB_SERVERS,
    "mq": {"rabbitmq-server", "kafka"},
    "queue": {"rabbitmq-server", "kafka"},
    "broker": {"rabbitmq-server", "kafka"},
}
"""The software a host's role word (search-01, cache-02, db-replica-02, lb-edge-02) or a message's word means."""
FITS = {
    "database": DB_ENGINES,
    "cache": {"redis-server", "memcached"},
    "gateway": WEB_SERVERS,
    "5xx": WEB_SERVERS | {"php-fpm"},
    "web": WEB_SERVERS | {"php-fpm"},
    "cert": WEB_SERVERS,
}
"""Which running software a complaint is about, when the message names none."""


def fitting(conv: Conversation, ents: Entities, ps: str) -> list[str]:
    """Known servers the process table shows that the engineer did not name and that fit the complaint (a
    database for stale reports, a web server for 502s): what actually runs here, to check instead of a name
    that is not a unit."""
    running = [svc for svc, rx in RUNNING.items() if re.search(rx, ps)]
    if svc_php := next((m for m in re.findall(r"/etc/php/(\d\.\d+)/fpm/", ps)), None):
        running = [f"php{svc_php}-fpm" if s == "php-fpm" else s for s in running]
    wanted = set().union(set(), *(FITS.get(s, set()) for s in ents.symptoms))
    words = {w for h in [*ents.hosts, *conv.hosts] for w in re.split(r"[-_.\d]+", h.lower()) if w}
    words |= set(re.findall(r"[a-z]+", conv.request.lower())) & set(ROLE_WORDS)
    wanted |= set().union(set(), *(ROLE_WORDS.get(w, set()) for w in words))
    named = set(ents.services) if not ents.guessed else set()
    return [s for s in running if s not in named and (s in wanted or log_kind(s) in wanted)]


HEALTH_URLS = {
    "elasticsearch": "http://127.0.0.1:9200/_cluster/health",
    "opensearch": "http://127.0.0.1:9200/_cluster/health",
}
"""A server's own health endpoint, which also names what its log file is called (the cluster's name)."""


def discovered_checks(conv: Conversation, svc: str) -> list[Check]:
    """A server found running: its unit's state, its own health endpoint, then its own log."""
    health = [
        Check("http_check", {"url": url}, f"{svc} runs here: ask its health endpoint", "discovered")
        for url in [HEALTH_URLS.get(svc)]
        if url
    ]
    return [
        Check("service_status", {"service": svc}, f"{svc} runs here: check its state", "discovered"),
        *health,
        *[
            Check(x.name, x.args, f"{svc} runs here: read its log", "discovered")
            for x in log_sources(conv, svc)[:2]
        ],
    ]


def not_units(conv: Conversation) -> set[str]:
    """Names this turn's service_status calls said are no unit here."""
    return {
        str(c.args.get("service"))
        for c in conv.this_turn()
        if c.name == "service_status"
        and c.answered
        and (c.exit_code == 4 or _NOT_FOUND.search(c.output[:300]) or (c.failed and not c.output.strip()))
    }


def _served(conv: Conversation) -> bool:
    """Did a request this turn get a clean answer (an HTTP check with no finding)?"""
    return any(
        x.name == "http_check" and x.answered and not x.failed and x.output.strip() and not x.findings
        for x in conv.this_turn()
    )


def _unit_missing(conv: Conversation, match: str) -> list[str]:
    """Services whose unit was not found under that name this turn but whose processes were looked for (their
    logs are the next place to look: php-fpm runs as php8.2-fpm, for instance)."""
    if not match:
        return []
    return [
        str(c.args["service"])
        for c in conv.this_turn()
        if c.name == "service_status"
        and c.answered
        and c.args.get("service")
        and (re.split(r"[-_.@]", str(c.args["service"]))[0] == match)
        and (c.exit_code == 4 or _NOT_FOUND.search(c.output[:300]))
    ]


def pg_cluster(conv: Conversation) -> str | None:
    """Debian's `<version>-<cluster>` (e.g. 15-main) from process titles, pg binaries or unit names seen."""
    for call in conv.calls:
        for m in _PG.finditer(call.output):
            v = m.group("v") or m.group("v2") or m.group("v3")
            c = m.group("c") or m.group("c2") or m.group("c3")
            return f"{v}-{c}"
    return None


def _after_wrapper(conv: Conversation, svc: str) -> list[Check]:
    """`postgresql.service` is only a wrapper (ExecStart=/bin/true): the real units are postgresql@VER-CLUSTER."""
    cluster = pg_cluster(conv)
    looked = any(c.name == "process_list" and c.args.get("match") == "postgres" for c in conv.this_turn())
    if (
        not cluster and not looked
    ):  # the process titles say which version and cluster run: one call, not three
        why = f"{svc} is a wrapper unit: find its cluster"
        return [Check("process_list", {"match": "postgres"}, why, "wrapper")]
    names = [f"{svc}@{cluster}"] if cluster else [f"{svc}@{v}-main" for v in (16, 15, 14)]  # none runs: probe
    return [
        Check("service_status", {"service": n}, f"{svc} is a wrapper unit: check its cluster {n}", "wrapper")
        for n in names
    ]


def own_log(conv: Conversation, svc: str) -> str | None:
    """The service's conventional log file on this host."""
    return next(iter(conventional(conv, svc)), None)


STATE_ONLY = {"unit-failed"}
"""Findings that restate a unit's state (it failed, with this exit status): what happened, not why."""


def _one_of(conv: Conversation, alternatives: list[str]) -> list[str]:
    """A package's log file by convention differs by distribution (rabbit@host.log or rabbit.log, mysql/error.log
    or mysqld.log): one is tried at a time, and none once one of them was read."""
    done = [
        x
        for x in conv.this_turn()
        if x.name == "log_tail" and x.answered and x.args.get("source") in alternatives
    ]
    if any(not x.failed and x.output.strip() for x in done):
        return [str(x.args.get("source")) for x in done]
    tried = list(dict.fromkeys(str(x.args.get("source")) for x in done))
    return [*tried, *[p for p in alternatives if p not in tried][:1]]


def log_sources(conv: Conversation, svc: str) -> list[Check]:
    """Where this service's logs are: files its own output names, its journal, and the files that kind of
    software writes by convention. Reading goes on until one of them states a failure (a journal that only
    says "Started" does not end it: the daemon's own file often holds the line that says why)."""
    kind = log_kind(svc)
    paths = configured(conv, svc)
    cluster = pg_cluster(conv)
    if svc.startswith("postgres"):
        paths += [f"/var/log/postgresql/postgresql-{cluster}.log"] if cluster else []
        conventions: list[str] = []
    elif kind:
        conventions = _one_of(conv, conventional(conv, svc))
    else:
        conventions = [f"/var/log/{svc}/{svc}.log", f"/var/log/{svc}/app.log", f"/var/log/{svc}.log"]
    journal = f"unit:{svc}"
    sources = [*paths, *conventions, journal] if kind else [*paths, journal, *conventions]
    tried = {str(x.args.get("source")) for x in conv.this_turn() if x.name == "log_tail"}
    read = [
        x
        for x in conv.this_turn()
        if x.name == "log_tail" and x.args.get("source") in sources and not x.failed and x.output.strip()
    ]
    if kind and _only_systemd(conv, journal):  # systemd saying it failed is not the program saying why
        read = [x for x in read if x.args.get("source") != journal]
    if any(  # one stated the failure: enough (systemd's 'failed, status 14' says that it died, not why)
        f.severity != "info" and f.signature not in STATE_ONLY for x in read for f in x.findings
    ):
        return []
    if read:  # it said nothing wrong: the other kind of log (journal / the daemon's own file), when known
        if not kind:
            return []
        journal_read = any(x.args.get("source") == journal for x in read)
        other = [s for s in sources if (s == journal) != journal_read and s not in tried]
        if any(str(x.args.get("source")) != journal for x in read) and journal_read:
            return []
        budget = max(0, 2 - len([t for t in tried if t in sources and (t == journal) != journal_read]))
        return [
            Check("log_tail", {"source": s, "lines": 100}, f"read {svc}'s log", f"logs:{svc}")
            for s in other[:budget]
        ] + _naming_config(conv, svc)
    if not kind and journal not in tried:  # guessed file names only after the journal said nothing
        sources = [x for x in sources if x not in conventions]
    budget = max(0, 3 - len([t for t in tried if t in sources]))
    fresh = [s for s in dict.fromkeys(sources) if s not in tried][:budget]
    return [
        Check("log_tail", {"source": s, "lines": 100}, f"read {svc}'s log", f"logs:{svc}") for s in fresh
    ] + _naming_config(conv, svc)


def _naming_config(conv: Conversation, svc: str) -> list[Check]:
    """The setting that names the log file is not known yet (Elasticsearch writes <cluster.name>.log): its
    configuration says, and where its logs and data are."""
    found = naming_config(conv, svc)
    return (
        [Check("log_tail", {"source": found[0], "lines": 200}, f"where {svc} logs", f"logs:{svc}")]
        if found
        else []
    )


_MENTIONED_LOG = re.compile(
    r"(?<![\w./-])(/(?:var/log|var/lib|srv|opt|home|data|tmp|app)/[\w./@-]*?"
    r"(?:\.(?:log|err|out)|/log/[\w.@-]+|/logs/[\w.@-]+))(?![\w/@-])"
)
_POINTER = re.compile(
    r"\b(?:see|check|details?|more info|written to|logged to|logging to|log file|refer to|look at)\b|"
    r"\b(?:error|fail\w*|fatal|cannot|can't|could not|unable|denied|aborted|exited|crit)\b|"
    r"\) CMD \(.*>>?\s*/",  # a cron job's command line appending its output to its own log
    re.IGNORECASE,
)


def mentioned_logs(conv: Conversation) -> list[Check]:
    """Log files an output of this turn points to ('see /var/log/x.log for details', an error naming the file it
    writes): the line that says why is often there, not where the pointer was read."""
    read = {str(c.args.get("source")) for c in conv.this_turn() if c.name == "log_tail"}
    out: list[str] = []
    for c in conv.this_turn():
        if not c.answered or c.name not in ("log_tail", "service_status", "pod_logs") or not c.output:
            continue
        for line in c.output.splitlines()[-400:]:
            if "/" not in line or not _POINTER.search(line):
                continue
            out += [
                p.rstrip(".:,;'\"")
                for p in _MENTIONED_LOG.findall(line)
                if p.rstrip(".:,;'\"") not in read and p != c.args.get("source")
            ]
    return [
        Check("log_tail", {"source": p, "lines": 200}, f"an output points to {p}: read it", "mentioned")
        for p in list(dict.fromkeys(out))[:2]
    ]


def listen_checks(conv: Conversation, ents: Entities) -> list[Check]:
    """A proxy's 502 and an application that says where it listens: which upstream the proxy uses (its error
    log) and who holds the ports involved, so a moved bind address shows as the mismatch it is."""
    if not ({"gateway", "5xx", "refused"} & ents.symptoms) or k8s_mode(conv, ents):
        return []
    lines = listen_lines(conv)
    if not lines:
        return []
    webs = [s for s in ents.services if s in WEB_SERVERS] or ["nginx"]
    logs = [p for w in webs[:1] for p in conventional(conv, w) if "error" in p][:1]
    out = [
        Check(
            "log_tail",
            {"source": p, "lines": 100},
            "the application says where it listens: see which upstream the proxy uses",
            "upstream",
        )
        for p in logs
    ]
    out += [
        Check("port_owner", {"port": p}, f"the proxy's upstream port {p} refuses: who holds it", "upstream")
        for p in refused_upstream_ports(conv)[:1]
    ]
    return out


def upstream_checks(conv: Conversation) -> list[Check]:
    """A backend socket named in an error line this turn: its unit's state, then its own logs."""
    out = []
    for svc in upstream_services(conv):
        out.append(
            Check(
                "service_status", {"service": svc}, f"the error names {svc}'s socket: its state", "upstream"
            )
        )
        out += [
            Check(x.name, x.args, f"the error names {svc}'s socket: its log", "upstream")
            for x in log_sources(conv, svc)
        ]
    return out


def _dependency_pods(conv: Conversation) -> list[Check]:
    """A connection error names a host; a pod of that name in the listing is the dependency to look at."""
    hosts = {
        str(f.facts.get("host")).split(".")[0]
        for f in conv.findings(this_turn_only=True)
        if f.signature in ("connection-refused", "connection-timeout", "dns-timeout") and f.facts.get("host")
    }
    out = []
    for c in conv.this_turn():
        if c.name != "list_pods" or not hosts:
            continue
        ns = str(c.args.get("namespace") or "default")
        for row in parse_pod_list(c.output):
            if any(row.name == h or row.name.startswith(h + "-") for h in hosts):
                out.append(
                    Check(
                        "pod_describe",
                        {"pod": row.name, "namespace": row.namespace or ns},
                        f"the failing dependency runs in pod {row.name}",
                        "dependency",
                    )
                )
    return out


def _siblings(conv: Conversation, pod: str, ns: str) -> list[Check]:
    """The other pods of a workload whose pod could not be described (deleted, renamed): one of each state."""
    owner = deployment_of(pod)
    if not owner:
        return []
    picked: dict[str, PodRow] = {}
    for c in conv.calls:
        if c.name == "list_pods" and c.answered and not c.failed:
            for r in parse_pod_list(c.output):
                if r.name != pod and deployment_of(r.name) == owner and (r.namespace or ns) == ns:
                    picked.setdefault(r.status, r)
    return [
        Check(
            "pod_describe",
            {"pod": r.name, "namespace": ns},
            f"{pod} could not be described: describe {r.name} of the same workload ({r.status})",
            "describe-gap",
        )
        for r in sorted(picked.values(), key=lambda r: r.healthy)[:2]
    ]


def _pod_kind(pod: object, status: dict[str, str]) -> tuple[str, str]:
    """A pod's deployment and its state in the listing: one pod of each is described."""
    return (deployment_of(str(pod)) or str(pod), status.get(str(pod), ""))


def _after_pods(c: CallRecord, ents: Entities) -> list[Check]:
    ns = str(c.args.get("namespace") or "default")
    rows = parse_pod_list(c.output)
    sick = sorted(
        (r for r in rows if not r.healthy or r.restarts > 0), key=lambda r: (r.healthy, -r.restarts)
    )
    wanted = sorted(
        (
            r
            for r in rows
            if r.name in ents.pods or any(of_workload(r, d) for d in ents.deployments + ents.services)
        ),
        key=lambda r: (r.healthy, -r.restarts),
    )
    if any(not r.healthy or r.restarts for r in wanted):  # the named workload's sick pods say it all
        wanted = [r for r in wanted if not r.healthy or r.restarts]
    if (
        c.args.get("all_namespaces") and wanted
    ):  # every namespace listed: the named ones' and their neighbours'
        homes = {r.namespace for r in wanted}
        sick = [r for r in sick if r.namespace in homes]
    picked: dict[tuple[str, str], PodRow] = {}
    for r in wanted + sick:  # what was named first, then the sickest
        # one pod per deployment and state is enough: a pod stuck Terminating and its replacement stuck
        # ContainerCreating say different things (the new one carries the attach or mount warning)
        picked.setdefault((deployment_of(r.name) or r.name, r.status), r)
    out = [
        Check(
            "pod_describe",
            {"pod": r.name, "namespace": r.namespace or ns},
            f"describe {r.name} ({r.status}, {r.restarts} restarts)",
            "pods",
        )
        for r in list(picked.values())[:DESCRIBE_PER_LISTING]
    ]
    if not sick:
        out.append(Check("k8s_events", {"namespace": ns}, f"look for warnings in {ns}", "pods-events"))
    if ns != "default" and any(r.status in NODE_BOUND for r in rows):
        out.append(
            Check(
                "k8s_events",
                {"namespace": "default"},
                "pods are pending, evicted or stuck terminating: the nodes' events (kept in namespace default)",
                "nodes",
            )
        )
    return out


def of_workload(row: PodRow, name: str) -> bool:
    """Is the pod one of the named workload's? Its own name's start ('checkout' for checkout-7f9b-x2k4p), or a
    whole word of its workload's name ('nginx pods' for static-nginx-7d9f8c6b5a-j8v3w)."""
    owner = deployment_of(row.name) or row.name
    return row.name.startswith(name + "-") or (len(name) > 2 and name in owner.split("-"))


DESCRIBE_PER_LISTING = 4
"""Not-Ready pods described after one listing (one step's worth of calls; the turn's call budget bounds the rest)."""

NODE_BOUND = {
    "Pending",
    "Evicted",
    "Terminating",
    "Unknown",
    "NodeLost",
    "ContainerStatusUnknown",
    "OutOfcpu",
}
"""Pod states a node explains (capacity, pressure, a lost kubelet): Node events live in namespace default."""


def _after_describe(c: CallRecord, troubled: bool) -> list[Check]:
    pod, ns = c.args.get("pod"), c.args.get("namespace", "default")
    stuck = init_stuck(c.output)
    if stuck:  # the pod waits on an init container: what it prints says what it waits for
        return [
            Check(
                "pod_logs",
                {"pod": pod, "namespace": ns, "container": stuck},
                f"read init container {stuck}'s logs: the pod waits for it",
                "describe",
            )
        ]
    restarts = re.search(r"Restart Count:\s+([1-9]\d*)", c.output)
    not_ready = re.search(r"^\s+Ready:\s+False", c.output, re.MULTILINE)
    if not (restarts or not_ready or troubled):
        return []
    crashed = _crashed_container(c.output) if restarts else None
    return [
        Check(
            "pod_logs",
            {"pod": pod, "namespace": ns, "previous": bool(restarts), "container": crashed},
            f"read {pod}'s logs",
            "describe",
        )
    ]


def _crashed_container(describe: str) -> str | None:
    """The container that restarted (named, so its previous logs are read once, the same way a crash finding
    asks for them)."""
    from assistant.findings.k8s_text import parse_describe

    pod = parse_describe(describe)
    for c in pod.containers if pod else []:
        if not c.init and str(c.get("Restart Count") or "0") not in ("0", ""):
            return c.name
    return None


def _after_free_port(c: CallRecord) -> list[Check]:
    from assistant.findings.base import SERVICE_OF_PORT

    svc = SERVICE_OF_PORT.get(int(c.args.get("port", 0) or 0))
    return (
        [Check("service_status", {"service": svc}, f"nothing listens there: is {svc} running?", "port")]
        if svc
        else []
    )


_LOCAL_URL = re.compile(r"^https?://(?:localhost|127\.0\.0\.1)(?::(\d+))?(?:/|$)")


def _after_http(c: CallRecord) -> list[Check]:
    m = re.search(r"Failed to connect to (\S+) port (\d+)", c.output)
    if m and m.group(1) in ("localhost", "127.0.0.1"):
        return [Check("port_owner", {"port": int(m.group(2))}, "is anything listening?", "http")]
    local = _LOCAL_URL.match(str(c.args.get("url", "")))
    error = next((f for f in c.findings if f.signature == "http-error-status"), None)
    if local and error is not None and not error.facts.get("server"):  # no Server header: who is answering?
        port = int(local.group(1) or (443 if str(c.args["url"]).startswith("https") else 80))
        return [Check("port_owner", {"port": port}, f"which process answers on port {port}?", "http")]
    return []


# ------------------------------------------------------------------ the standard triage, when evidence runs out


def triage_checks(conv: Conversation, ents: Entities) -> list[Check]:
    """What a methodical engineer looks at for this kind of target when nothing has pointed anywhere yet:
    a failed or empty check is a gap, and the next of these is asked instead of giving up."""
    return _k8s_triage(conv, ents) if k8s_mode(conv, ents) else _host_triage(conv, ents)


def _host_triage(conv: Conversation, ents: Entities) -> list[Check]:
    out: list[Check] = []
    for svc in ents.services[:2]:
        out.append(Check("service_status", {"service": svc}, f"check the state of {svc}", "triage"))
        if svc not in not_units(conv):  # a unit that does not exist has no journal either
            why = f"read {svc}'s journal"
            out.append(Check("log_tail", {"source": f"unit:{svc}", "lines": 100}, why, "triage"))
    out += [
        Check("log_tail", {"source": p, "lines": 200}, f"read {p}", "triage") for p in named_logs(ents)[:2]
    ]
    listed = any(c.name == "process_list" and not c.args.get("match") for c in conv.this_turn())
    if not listed and ents.services and not any(known_software(s) for s in ents.services):
        # a site's own service showed nothing: what runs here (the database, cache or search server it uses)
        out.append(Check("process_list", {}, "see what else runs here", "triage"))
    out += [
        Check("port_owner", {"port": p}, f"see what listens on port {p}", "triage") for p in ents.ports[:2]
    ]
    here = {h.lower() for h in [conv.target_name, *conv.hosts] if h}
    out += [  # a remote endpoint the engineer names: does its name resolve, and to what?
        Check("dns_lookup", {"name": n}, f"resolve {n}, the endpoint you named", "triage")
        for n in ents.fqdns[:1]
        if n.lower() not in here
    ]
    out += [
        Check("disk_usage", {"path": "/"}, "check disk space and inodes", "triage"),
        Check("host_resources", {}, "look at memory and load", "triage"),
    ]
    units = [s for s in ents.services[:2] if s not in not_units(conv)]
    if not units and not named_logs(
        ents
    ):  # no unit to read: the system log holds every daemon's (and cron's)
        out.append(
            Check("log_tail", {"source": "/var/log/syslog", "lines": 200}, "read the system log", "triage")
        )
    if ents.symptoms & KERNEL_SIGNS:
        out.append(
            Check(
                "log_tail",
                {"source": "/var/log/kern.log", "lines": 200},
                "the kernel log: dropped packets, OOM kills, I/O errors",
                "triage",
            )
        )
    out += [  # the whole process table, once read, already shows them
        Check("process_list", {"match": process_name(s)}, f"look for {s}'s processes", "triage")
        for s in ents.services[:2]
        if not listed and known_software(s)
    ]
    out += [
        c
        for s in ents.services[:2]
        if s.startswith("postgres") and pg_cluster(conv)
        for c in log_sources(conv, s)
    ]
    return out


def _k8s_triage(conv: Conversation, ents: Entities) -> list[Check]:
    ns = namespace(conv, ents)
    everywhere = (  # a namespace the engineer named is where to look; none named: every namespace at once
        _offers_all_namespaces(conv) and not found_named_pods(conv, ents) and not named_namespace(conv, ents)
    )
    out = []
    if everywhere:
        why = "no namespace was named: list the pods of every namespace (kubectl get pods -A)"
        out.append(Check("list_pods", {"all_namespaces": True}, why, "triage"))
    out.append(Check("list_pods", {"namespace": ns}, f"see the pods in namespace {ns}", "triage"))
    out += _component_logs(conv)
    crashed: list[tuple[PodRow, str]] = []
    for c in conv.this_turn():
        if c.name != "list_pods" or not c.answered or c.failed:
            continue
        for r in parse_pod_list(c.output):
            if not r.healthy:
                out.append(
                    Check(
                        "pod_describe",
                        {"pod": r.name, "namespace": r.namespace or ns},
                        f"describe {r.name} ({r.status})",
                        "triage",
                    )
                )
            if r.restarts > 0 or r.status in ("CrashLoopBackOff", "Error"):
                crashed.append((r, r.namespace or ns))
    for r, pns in crashed[:2]:
        out.append(
            Check(
                "pod_logs",
                {"pod": r.name, "namespace": pns, "previous": True},
                f"read the crashed container's last logs ({r.name})",
                "triage",
            )
        )
        out.append(Check("pod_logs", {"pod": r.name, "namespace": pns}, f"read {r.name}'s logs", "triage"))
    homes = [] if named_namespace(conv, ents) else _listed_homes(conv, ents)
    out += [
        Check("k8s_events", {"namespace": h}, f"recent events in {h}", "triage") for h in homes[:2] or [ns]
    ]
    listed = found_named_pods(conv, ents)
    if "rollout_status" in conv.tools and named_namespace(conv, ents) and not listed:  # a gap: the rollout
        out += [
            Check(
                "rollout_status", {"deployment": d, "namespace": ns}, f"where {d}'s rollout stands", "triage"
            )
            for d in ents.deployments[:1]
        ]
    if not listed:  # the listing did not show them: the pods named in full are described where they should be
        out += [
            Check("pod_describe", {"pod": p, "namespace": ns}, f"describe pod {p}, which you named", "triage")
            for p in ents.pods[:2]
        ]
        if everywhere:
            why = "the pods are not where I looked: list the pods of every namespace"
            out.append(Check("list_pods", {"all_namespaces": True}, why, "triage"))
        out += [
            Check(
                "list_pods",
                {"namespace": other},
                f"the pods are not where I looked: try namespace {other}",
                "triage",
            )
            for other in other_namespaces(conv, ents)[:2]
        ]
    return out


def _other_sick_rows(conv: Conversation, ents: Entities) -> list[Check]:
    """Nothing was named and every namespace was listed: each not-Ready workload there is described, not only
    the first one that explained itself (several may be down for different reasons)."""
    if ents.pods or ents.deployments or ents.services or not k8s_mode(conv, ents):
        return []
    return [
        x
        for c in conv.this_turn()
        if c.name == "list_pods" and c.args.get("all_namespaces") and c.answered and not c.failed
        for x in _after_pods(c, ents)
        if x.name == "pod_describe" and not _looked_at(conv, str(x.args.get("pod")))
    ]


def _looked_at(conv: Conversation, pod: str) -> bool:
    """Was a pod of this one's workload described or its logs read this turn?"""
    owner = deployment_of(pod) or pod
    return any(
        c.name in ("pod_describe", "pod_logs")
        and (deployment_of(str(c.args.get("pod"))) or c.args.get("pod")) == owner
        for c in conv.this_turn()
    )


def wider_checks(conv: Conversation) -> list[Check]:
    """What was named was already looked at in earlier turns: look wider, at the pods of every namespace (a
    cluster add-on such as the DNS may be what fails)."""
    if not _offers_all_namespaces(conv):
        return []
    why = "what was named was looked at already: the pods of every namespace"
    return [Check("list_pods", {"all_namespaces": True}, why, "wider")]


def _listed_homes(conv: Conversation, ents: Entities) -> list[str]:
    """Namespaces an every-namespace listing showed the named workloads in (or, nothing named, its sick pods)."""
    rows = [
        r
        for c in conv.this_turn()
        if c.name == "list_pods" and c.answered and not c.failed
        for r in parse_pod_list(c.output)
        if r.namespace
    ]
    named = [*ents.deployments, *ents.services]
    wanted = [r for r in rows if r.name in ents.pods or any(of_workload(r, d) for d in named)]
    sick = [r for r in wanted or rows if not r.healthy or r.restarts]
    return list(dict.fromkeys(r.namespace for r in sick or wanted if r.namespace))


def _offers_all_namespaces(conv: Conversation) -> bool:
    params = (conv.tools.get("list_pods") or {}).get("parameters") or {}
    return "all_namespaces" in (params.get("properties") or {})


_ENV_WORDS = re.compile(r"\b(production|prod|staging|stage|dev|qa|test)\b")


def other_namespaces(conv: Conversation, ents: Entities) -> list[str]:
    """Where else the pods may be when the first namespace showed none of them: namespaces seen in output
    (a NAMESPACE column), the target's, a named workload's own name, an environment word in the message."""
    seen: list[str] = []
    for c in conv.calls:
        if c.name in ("list_pods", "k8s_events") and c.answered and not c.failed:
            seen += [r.namespace for r in parse_pod_list(c.output) if r.namespace]
            seen += re.findall(
                r"^([a-z0-9][a-z0-9-]{0,62})\s+\S+\s+(?:Warning|Normal)\s", c.output, re.MULTILINE
            )
    text = " ".join(conv.users)
    words = _ENV_WORDS.findall(text.lower())
    named = [*ents.deployments, *[s for s in ents.services if s not in ROLE_OF]]
    addons = [
        ns
        for w in named
        for prefix, homes in ADDON_NAMESPACES.items()
        if w.startswith(prefix)
        for ns in homes
    ]
    places = [  # 'stuck in ml': a place said in a cluster's conversation (short names count there)
        p for p in [*service_namespaces(text), *place_words(text)] if k8s_name(p) and len(p) > 1
    ]
    stems = [
        w.split("-")[0] for w in named if "-" in w
    ]  # storefront-ssr lives in storefront, by team or product
    subjects = [
        n for n in [*named, *stems, *released(text)] if k8s_name(n) and len(n) > 2
    ]  # names, not verbs
    guessed = [*places, *subjects]
    candidates = [*ents.namespaces, *conv.namespaces, *seen, *guessed, *addons, *words, "default"]
    tried = {
        str(c.args.get("namespace") or "default")
        for c in conv.this_turn()
        if c.name == "list_pods" and not c.args.get("all_namespaces")
    }
    return [n for n in dict.fromkeys(candidates) if n not in tried and (n != "kube-system" or n in addons)]


ADDON_SELECTORS = {"coredns": "k8s-app=kube-dns", "kube-dns": "k8s-app=kube-dns"}
"""Labels the standard manifests give an add-on's pods (CoreDNS keeps kube-dns's for compatibility)."""


def _component_logs(conv: Conversation) -> list[Check]:
    """The logs of a component the engineer points at ('CoreDNS logs in kube-system are full of NXDOMAIN'): find
    its pods where it is installed, then read one pod's logs."""
    from assistant.runbook.entities import extract, log_subjects

    text = " ".join(conv.users)
    ents = extract(text)
    out: list[Check] = []
    for subject in log_subjects(text)[:2]:
        homes = [*ADDON_NAMESPACES.get(subject, []), *place_words(text), *ents.namespaces]
        rows = [
            (r, str(c.args.get("namespace") or "default"))
            for c in conv.this_turn()
            if c.name == "list_pods" and c.answered and not c.failed
            for r in parse_pod_list(c.output)
            if r.name.startswith(subject + "-")
        ]
        if rows:
            r, ns = rows[0]
            out.append(
                Check(
                    "pod_logs",
                    {"pod": r.name, "namespace": r.namespace or ns},
                    f"read {subject}'s logs, as asked",
                    "named-logs",
                )
            )
            continue
        selector = ADDON_SELECTORS.get(subject)
        for ns in list(dict.fromkeys(homes))[:2]:
            args = {"namespace": ns, **({"selector": selector} if selector else {})}
            out.append(
                Check("list_pods", args, f"find the {subject} pods whose logs were named", "named-logs")
            )
    return out


ADDON_NAMESPACES = {
    "fluent-bit": ["logging", "kube-system"],
    "fluentd": ["logging", "kube-system"],
    "promtail": ["logging", "monitoring"],
    "vector": ["logging", "vector"],
    "filebeat": ["logging", "kube-system"],
    "node-exporter": ["monitoring"],
    "prometheus": ["monitoring"],
    "grafana": ["monitoring"],
    "coredns": ["kube-system"],
    "kube-proxy": ["kube-system"],
    "aws-node": ["kube-system"],
    "calico-node": ["kube-system", "calico-system"],
    "cilium": ["kube-system"],
    "metrics-server": ["kube-system"],
    "cluster-autoscaler": ["kube-system"],
    "ingress-nginx": ["ingress-nginx"],
    "cert-manager": ["cert-manager"],
    "external-dns": ["external-dns", "kube-system"],
}
"""Where cluster add-ons are installed by their charts and manifests, by workload name: a node agent the engineer
names (a DaemonSet) is looked for there when the namespaces named or seen do not hold it."""


def found_named_pods(conv: Conversation, ents: Entities) -> bool:
    """Did a pod listing this turn show pods, and of what was named if anything was?"""
    rows = [
        r
        for c in conv.calls  # a listing of an earlier turn showed them just as well
        if c.name == "list_pods" and c.answered and not c.failed
        for r in parse_pod_list(c.output)
    ]
    wanted = [*ents.pods, *ents.deployments]
    if not wanted:
        return bool(rows)
    return any(r.name in ents.pods or any(r.name.startswith(d + "-") for d in ents.deployments) for r in rows)


def init_stuck(describe: str) -> str | None:
    """The init container a pod is waiting on (running or crashing, never having completed)."""
    from assistant.findings.k8s_text import parse_describe

    pod = parse_describe(describe)
    for c in pod.containers if pod else []:
        if (c.init and c.get("State") in ("Running", "Waiting")) or (
            c.init and c.get("State.Reason") == "Error"
        ):
            return c.name
    return None


def cluster_dns_checks(conv: Conversation) -> list[Check]:
    """Name lookups time out inside a cluster: the cluster DNS (CoreDNS/kube-dns in kube-system) is next."""
    dns = [
        f
        for f in conv.findings(this_turn_only=True)
        if f.signature == "dns-timeout"
        or (f.signature in ("connection-timeout", "connection-refused") and f.facts.get("port") == 53)
    ]
    return (
        [
            Check(
                "list_pods",
                {"namespace": "kube-system"},
                "lookups fail: look at the cluster DNS pods",
                "cluster-dns",
            )
        ]
        if dns
        else []
    )
