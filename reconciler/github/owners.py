"""Approvals as GitHub sees them now (pure): the report's requirements, checked against
the base branch's CODEOWNERS, evaluated on the pull request's reviews.

Why the base again: the plan report may come from an artifact the pull request's own
workflow produced, so it could drop a code-owner requirement. The CODEOWNERS file at the
base branch (read through the API) applied to the changed files (also from the API)
gives the code-owner requirements GitHub itself enforces; any of them the report lacks
(no requirement there with the same owners) is added. A report can add requirements,
never remove one its base imposes. Policy and tool requirements cannot be recomputed
without running the plan, so they are taken as recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from reconciler.github.api import MAX_PULL_FILES
from reconciler.plan.model import Approval, PlanReport, Reason
from reconciler.policy import codeowners
from reconciler.policy.approvals import APPROVED, Evaluation, Requirement, Review, evaluate
from reconciler.policy.check import codeowner_requirements


def _owner_set(owners: Iterable[str]) -> frozenset[str]:
    return frozenset(o.removeprefix("@").lower() for o in owners)


def base_requirements(text: str, source: str, changed: Sequence[str]) -> list[Requirement]:
    """The code-owner approvals the base's CODEOWNERS demands for the changed files."""
    owned, _unowned = codeowner_requirements(tuple(changed), codeowners.parse(text, source))
    return owned


def unlisted(listed: int, total: int | None) -> bool:
    """Whether GitHub's list of the changed files stopped short (at MAX_PULL_FILES): the
    files past it could be code-owned, and the report (a pull request's own artifact)
    could have dropped their requirements, so they cannot be checked."""
    return listed >= MAX_PULL_FILES and (total is None or total > listed)


def too_many_files(number: int, total: int | None) -> str:
    count = f"{total:,}" if total is not None else f"more than {MAX_PULL_FILES:,}"
    return (
        f"pull request #{number} changes {count} files; GitHub lists only "
        f"{MAX_PULL_FILES:,}, so the code owners of the rest cannot be checked against the "
        "base's CODEOWNERS: split it into smaller pull requests"
    )


def with_reason(report: PlanReport, text: str) -> PlanReport:
    """The report with one more blocking reason (the verdict is decided again later)."""
    reasons = [*report.verdict.reasons, Reason(kind="error_finding", text=text)]
    verdict = report.verdict.model_copy(update={"reasons": reasons, "status": "blocked"})
    return report.model_copy(update={"verdict": verdict})


def missing_from(report: PlanReport, base: Sequence[Requirement]) -> list[Requirement]:
    """The base's requirements no requirement of the report covers (same owners)."""
    have = {_owner_set(a.from_) for a in report.approvals.required}
    return [r for r in base if _owner_set(r.owners) not in have]


def with_requirements(report: PlanReport, added: Sequence[Requirement]) -> PlanReport:
    if not added:
        return report
    extra = [Approval.model_validate({**r.to_dict(), "id": f"base-{r.id}"}) for r in added]
    approvals = report.approvals.model_copy(
        update={"required": [*report.approvals.required, *extra]}
    )
    return report.model_copy(update={"approvals": approvals})


def requirements(report: PlanReport) -> list[Requirement]:
    return [Requirement.from_dict(a.model_dump(by_alias=True)) for a in report.approvals.required]


def teams_to_read(
    evaluation: Evaluation, reviews: Sequence[Review], author: str, head: str
) -> list[str]:
    """The @org/team owners of the requirements still missing, only when someone other than
    the author approved the head commit (else no membership could satisfy them)."""
    approvers = {
        r.reviewer.lower()
        for r in reviews
        if r.state.upper() == APPROVED
        and r.commit_id == head
        and r.reviewer.lower() != author.lower()
    }
    if not approvers:
        return []
    teams = {o for req in evaluation.missing for o in req.owners if "/" in o}
    return sorted(teams)


MAX_TEAMS = 50  # teams whose members one run reads: the report may name any number


def bounded(teams: Sequence[str], base: Sequence[Requirement]) -> tuple[list[str], list[str]]:
    """The teams to read, at most MAX_TEAMS, those the base's CODEOWNERS names first; and
    the rest, not read. The report (a pull request's own artifact) can name thousands of
    teams, and each read spends the repository's API budget, shared by its workflows."""
    trusted = {o for r in base for o in _owner_set(r.owners)}
    ordered = sorted(teams, key=lambda t: (_owner_set([t]) - trusted != frozenset(), t))
    return ordered[:MAX_TEAMS], ordered[MAX_TEAMS:]


def split_team(owner: str) -> tuple[str, str]:
    org, _, slug = owner.removeprefix("@").partition("/")
    return org, slug


def evaluate_with(
    reqs: Sequence[Requirement],
    reviews: Sequence[Review],
    author: str,
    head: str,
    teams: Mapping[str, Iterable[str]],
) -> Evaluation:
    return evaluate(reqs, reviews, author=author, head_sha=head, teams=teams)
