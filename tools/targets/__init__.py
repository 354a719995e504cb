"""Target names as sessions take them, and opening one.

local                      this host
sandbox:<scenario-id>      a simulated incident shipped in tools/scenarios/
kubernetes[:<context>]     a cluster from the user's kubeconfig
ssh:[user@]host[:port]     another host over SSH (its key must be in known_hosts)
replay                     recorded tool results (built by the eval runner)
"""

from __future__ import annotations

from tools.targets.base import Target, TargetConfig, TargetError

__all__ = ["Target", "TargetConfig", "TargetError", "list_targets", "open_target"]


def open_target(spec: str, config: TargetConfig | None = None) -> Target:
    """Open a target by name; raise TargetError with a clear reason when it cannot be."""
    config = config or TargetConfig()
    kind, _, rest = spec.partition(":")
    if kind == "local" and not rest:
        from tools.targets.local import LocalTarget

        return LocalTarget("local", config)
    if kind == "sandbox":
        from tools.targets.sandbox import SandboxTarget

        return SandboxTarget.from_scenario_id(rest, config)
    if kind == "kubernetes":
        from tools.targets.kubernetes import KubernetesTarget

        return KubernetesTarget.from_kubeconfig(rest or None, config)
    if kind == "ssh":
        from tools.targets.ssh import SshTarget

        return SshTarget.from_spec(rest, config)
    raise TargetError(
        f"unknown target {spec!r}: use 'local', 'sandbox:<scenario>', 'kubernetes[:<context>]', "
        "'ssh:[user@]host[:port]' "
        "(see `firstline targets`)"
    )


def list_targets(config: TargetConfig | None = None) -> list[dict]:
    """Every target a session could take: sandbox scenarios, this host, kube contexts found."""
    from tools.targets.kubernetes import kube_contexts
    from tools.targets.sandbox import list_scenarios

    config = config or TargetConfig()
    out = [{"name": f"sandbox:{s.id}", "kind": "sandbox", "title": s.title} for s in list_scenarios(config)]
    out.append({"name": "local", "kind": "local", "title": "this host"})
    for ctx in kube_contexts(config):
        out.append({"name": f"kubernetes:{ctx}", "kind": "kubernetes", "title": f"kube context {ctx}"})
    for host in config.ssh.hosts:
        out.append({"name": f"ssh:{host}", "kind": "ssh", "title": f"{host} over SSH"})
    return out
