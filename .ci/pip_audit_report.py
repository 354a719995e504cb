"""Reads `pip-audit -f json` on stdin; says exactly what was and was not checked (used by .ci/pip-audit.sh).

Exit 0: every package was checked and none has a known advisory, or some could not be checked (said so,
never "no known vulnerabilities"). Exit 1: at least one advisory (listed with its fix versions).
"""

from __future__ import annotations

import json
import sys


def main(lock: str) -> int:
    try:
        data = json.load(sys.stdin)
    except json.JSONDecodeError:
        print(f"pip-audit: {lock}: could NOT check: pip-audit gave no report (see its messages above)")
        return 0
    deps = data.get("dependencies", [])
    skipped = [d for d in deps if d.get("skip_reason")]
    found = [(d, v) for d in deps for v in d.get("vulns", [])]
    checked = len(deps) - len(skipped)
    for dep, vuln in found:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
        print(
            f"pip-audit: {lock}: {dep['name']} {dep.get('version', '?')}: {vuln.get('id')} "
            f"(fixed in: {fixes}) {' '.join(vuln.get('aliases') or [])}"
        )
    if skipped:
        print(
            f"pip-audit: {lock}: could NOT check {len(skipped)} of {len(deps)} packages (the advisory service "
            f"does not know them or did not answer), e.g. {skipped[0]['skip_reason']}"
        )
    if found:
        print(f"pip-audit: {lock}: {len(found)} known vulnerabilities in {checked} checked packages")
        return 1
    if checked and not skipped:
        print(f"pip-audit: {lock}: no known vulnerabilities in {checked} packages")
    elif checked:
        print(f"pip-audit: {lock}: no known vulnerabilities in the {checked} packages that could be checked")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
