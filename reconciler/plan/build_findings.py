"""The Findings and Approvals sections of the plan (pure).

Findings are `alm validate`'s (on head; new when the same finding is not on base) and
the policy check's violations (new as the check says), each with file:line:col, new
ones first, errors before warnings. A policy `load-error` is the same finding validate
reports, so it is listed once.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.errors import Finding
from reconciler.plan.model import Approval, Approvals, FindingEntry, Reason
from reconciler.policy.check import Report

_NEW_RANK = {True: 0, None: 1, False: 2}
_NEW_WORD = {True: "new ", False: "pre-existing ", None: ""}


def _key(finding: Finding) -> tuple[str, str, str]:
    """What identifies a finding across base and head: lines move when a file is edited."""
    return (finding.code, finding.location.file, finding.message)


def _entry(finding: Finding, new: bool | None, source: str) -> FindingEntry:
    loc = finding.location
    return FindingEntry.model_validate(
        {
            "severity": finding.severity,
            "code": finding.code,
            "message": finding.message,
            "file": loc.file,
            "line": loc.line,
            "column": loc.column,
            "new": new,
            "source": source,
        }
    )


def findings_section(
    head: Sequence[Finding], base: Sequence[Finding] | None, policy: Report
) -> list[FindingEntry]:
    before = None if base is None else {_key(f) for f in base}
    entries = [
        _entry(f, None if before is None else _key(f) not in before, "validate") for f in head
    ]
    entries += [
        _entry(v.finding, v.new, "policy") for v in policy.violations if v.kind != "load-error"
    ]
    entries.sort(
        key=lambda e: (_NEW_RANK[e.new], e.severity != "error", e.file, e.line, e.column, e.code)
    )
    return entries


def agent_of(path: str) -> str | None:
    """The agent a repository file belongs to: agents/<name>/... or evals/<name>/..."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] in ("agents", "evals") else None


def error_reasons(entries: Sequence[FindingEntry]) -> list[Reason]:
    """One blocking line per error finding, saying whether the change introduced it."""
    return [
        Reason(
            kind="error_finding",
            text=(
                f"{_NEW_WORD[e.new]}error at {e.file}:{e.line}:{e.column}: {e.message} [{e.code}]"
            ),
            agent=agent_of(e.file),
        )
        for e in entries
        if e.severity == "error"
    ]


def approvals_section(policy: Report) -> Approvals:
    """Who must approve and why; reviews are not read here (alm github pr counts them)."""
    return Approvals(required=[Approval.model_validate(r.to_dict()) for r in policy.approvals])
