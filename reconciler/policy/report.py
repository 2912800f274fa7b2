"""The policy check report as text for people and as versioned JSON for the PR report.

JSON, `schema_version: 1` (fields are only ever added within a version):

    {
      "schema_version": 1,
      "ok": bool,                      # no error-severity violation
      "head": str, "base": str|null,   # what was checked (ref and commit, or the path)
      "summary": {"errors", "warnings", "new_errors", "agents", "policies", "rules",
                  "approvals"},
      "violations": [{
        "kind": "violation|runtime-error|bad-policy|secret|load-error",
        "code": str, "rule": str,      # rule: "<policy>/<validation id>" for policy rules
        "severity": "error|warning", "message": str,
        "file": str, "line": int, "column": int,
        "policy": str|null, "agent": str|null, "environment": str|null,
        "policy_file": str|null, "policy_line": int|null,
        "new": bool|null               # introduced by the change; null without a base
      }],
      "approvals": [{
        "id": str, "source": "codeowners|policy|tool", "from": [owner, ...],  # any one suffices
        "reason": str, "files": [str], "agents": [str], "policy": str|null
      }],
      "changed_files": [str]|null, "unowned_files": [str], "codeowners": str|null
    }
"""

from __future__ import annotations

from typing import Any

from reconciler.policy.approvals import Requirement
from reconciler.policy.check import Report
from reconciler.policy.engine import Violation
from reconciler.wording import plural

SCHEMA_VERSION = 1


def to_dict(report: Report, head: str, base: str | None) -> dict[str, Any]:
    new_errors = sum(v.finding.severity == "error" and v.new is True for v in report.violations)
    return {
        "schema_version": SCHEMA_VERSION,
        "ok": report.ok,
        "head": head,
        "base": base,
        "summary": {
            "errors": report.errors,
            "warnings": report.warnings,
            "new_errors": new_errors,
            "agents": report.agents,
            "policies": report.policies,
            "rules": report.rules,
            "approvals": len(report.approvals),
        },
        "violations": [v.to_dict() for v in report.violations],
        "approvals": [r.to_dict() for r in report.approvals],
        "changed_files": list(report.changed) if report.changed is not None else None,
        "unowned_files": list(report.unowned),
        "codeowners": report.codeowners,
    }


_NEW = {True: " (new)", False: " (pre-existing)", None: ""}


def _violation_line(v: Violation) -> str:
    f = v.finding
    return f"{f.location}: {f.severity}: {f.message} [{f.code}]{_NEW[v.new]}"


def _approval_lines(r: Requirement) -> list[str]:
    lines = [f"  - {' or '.join(r.owners)}: {r.reason} [{r.source}]"]
    if r.agents:
        lines.append(f"      agents: {', '.join(r.agents)}")
    return lines


def to_text(report: Report, head: str, base: str | None) -> str:
    lines = [_violation_line(v) for v in report.violations]
    if report.changed is not None:
        lines.append(f"required approvals ({len(report.approvals)}):")
        for requirement in report.approvals:
            lines.extend(_approval_lines(requirement))
        if not report.approvals:
            lines.append("  (none)")
        if report.unowned:
            lines.append(f"  files with no code owner: {', '.join(report.unowned)}")
    verdict = "passed" if report.ok else "failed"
    against = f" against {base}" if base else ""
    lines.append(
        f"{head}{against}: policy check {verdict}: {plural(report.errors, 'error')}, "
        f"{plural(report.warnings, 'warning')}; {plural(report.agents, 'agent')}, "
        f"{plural(report.policies, 'policy', 'policies')} ({plural(report.rules, 'rule')})"
    )
    return "\n".join(lines)
