"""The verdict of a plan: blocked, pending approvals, or ready (pure).

Blocking reasons (an error finding, a missed threshold, a significant regression, a cost
rise beyond a policy's limit, cases that could not run, agents not evaluated) are fixed
when `alm plan` runs. Approvals change with every review, so their reasons are derived
again from the approvals each time: `alm github pr` counts the reviews and re-decides
without re-running anything. A missing approval is pending, never blocked, so the
comment can be posted before anyone has reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.plan.model import Approvals, NotCounted, PlanReport, Reason, Verdict
from reconciler.policy.approvals import Evaluation

PENDING_KINDS = frozenset({"approval", "changes_requested"})


def approval_reasons(approvals: Approvals) -> list[Reason]:
    """One line per approval still missing, and per reviewer asking for changes."""
    reasons = [
        Reason(kind="approval", text=f"needs approval from {' or '.join(a.from_)}: {a.reason}")
        for a in approvals.required
        if not a.approved_by
    ]
    reasons += [
        Reason(kind="changes_requested", text=f"{who} requested changes")
        for who in approvals.changes_requested
    ]
    return reasons


def decide(blocking: Sequence[Reason], approvals: Approvals) -> Verdict:
    hard = [r for r in blocking if r.kind not in PENDING_KINDS]
    waiting = approval_reasons(approvals)
    status = "blocked" if hard else "pending" if waiting else "ready"
    return Verdict(status=status, reasons=[*hard, *waiting])


def with_reviews(report: PlanReport, evaluation: Evaluation, head_sha: str) -> PlanReport:
    """The report with its approvals counted from the pull request's reviews on head_sha,
    and the verdict decided again."""
    by_id = {o.requirement.id: o.approved_by for o in evaluation.outcomes}
    required = [
        a.model_copy(update={"approved_by": list(by_id.get(a.id, ()))})
        for a in report.approvals.required
    ]
    approvals = Approvals(
        required=required,
        reviews_read=True,
        head_sha=head_sha,
        not_counted=[NotCounted(reviewer=r, why=w) for r, w in evaluation.not_counted],
        changes_requested=list(evaluation.changes_requested),
    )
    verdict = decide(report.verdict.reasons, approvals)
    return report.model_copy(update={"approvals": approvals, "verdict": verdict})
