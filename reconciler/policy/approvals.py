"""Required approvals, and whether a pull request's reviews satisfy them.

`evaluate` is pure: requirements, reviews, the author, the head commit and team
membership in; which requirements hold and which are missing out. It follows
GitHub's rules on the sequences that break naive bots:

- only each reviewer's latest review counts; a COMMENTED (or PENDING) review
  changes nothing, as on GitHub, so a comment after an approval keeps it;
- an approval counts only on the pull request's current head commit;
- the author's own approval never counts;
- a team owner is satisfied by any member of the team (membership is an input);
- a DISMISSED review no longer counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

APPROVED = "APPROVED"
CHANGES_REQUESTED = "CHANGES_REQUESTED"
DISMISSED = "DISMISSED"
_STATE_CHANGING = {APPROVED, CHANGES_REQUESTED, DISMISSED}


@dataclass(frozen=True)
class Requirement:
    """One approval a change needs: any one of `owners` satisfies it."""

    id: str
    owners: tuple[str, ...]
    reason: str
    source: str  # codeowners | policy | tool (the catalog's approvers of a newly granted tool)
    files: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    policy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": list(self.owners),
            "reason": self.reason,
            "source": self.source,
            "files": list(self.files),
            "agents": list(self.agents),
            "policy": self.policy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Requirement:
        return cls(
            str(data["id"]),
            tuple(data["from"]),
            str(data["reason"]),
            str(data["source"]),
            tuple(data.get("files", ())),
            tuple(data.get("agents", ())),
            data.get("policy"),
        )


@dataclass(frozen=True)
class Review:
    reviewer: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str
    submitted_at: datetime | str


@dataclass(frozen=True)
class Outcome:
    requirement: Requirement
    approved_by: tuple[str, ...]  # reviewers whose approval counts for it

    @property
    def satisfied(self) -> bool:
        return bool(self.approved_by)


@dataclass(frozen=True)
class Evaluation:
    outcomes: tuple[Outcome, ...]
    not_counted: tuple[tuple[str, str], ...] = field(default=())  # (reviewer, why)
    changes_requested: tuple[str, ...] = ()

    @property
    def satisfied(self) -> bool:
        return all(o.satisfied for o in self.outcomes)

    @property
    def missing(self) -> tuple[Requirement, ...]:
        return tuple(o.requirement for o in self.outcomes if not o.satisfied)


def _when(review: Review) -> datetime:
    value = review.submitted_at
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _login(name: str) -> str:
    return name.removeprefix("@").lower()


def latest_reviews(reviews: Sequence[Review]) -> dict[str, Review]:
    """Each reviewer's latest review that changes the approval state (stable on ties)."""
    ordered = sorted(enumerate(reviews), key=lambda pair: (_when(pair[1]), pair[0]))
    latest: dict[str, Review] = {}
    for _, review in ordered:
        if review.state.upper() in _STATE_CHANGING:
            latest[_login(review.reviewer)] = review
    return latest


def _counted(
    latest: dict[str, Review], author: str, head_sha: str
) -> tuple[set[str], list[tuple[str, str]], list[str]]:
    approvers: set[str] = set()
    not_counted: list[tuple[str, str]] = []
    blocking: list[str] = []
    for login, review in sorted(latest.items()):
        state = review.state.upper()
        if state == CHANGES_REQUESTED:
            blocking.append(login)
        elif state == DISMISSED:
            not_counted.append((login, "review dismissed"))
        elif login == _login(author):
            not_counted.append((login, "the author cannot approve their own change"))
        elif review.commit_id != head_sha:
            not_counted.append((login, f"approved {review.commit_id[:12]}, not the head commit"))
        else:
            approvers.add(login)
    return approvers, not_counted, blocking


def _members(teams: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    return {_login(team): {_login(m) for m in members} for team, members in teams.items()}


def evaluate(
    requirements: Sequence[Requirement],
    reviews: Sequence[Review],
    *,
    author: str,
    head_sha: str,
    teams: Mapping[str, Iterable[str]] | None = None,
) -> Evaluation:
    """Which requirements the reviews satisfy. `teams` maps "@org/team" to member logins."""
    approvers, not_counted, blocking = _counted(latest_reviews(reviews), author, head_sha)
    members = _members(teams or {})
    outcomes = []
    for requirement in requirements:
        by = set()
        for owner in requirement.owners:
            key = _login(owner)
            by |= approvers & members.get(key, {key} if "/" not in key else set())
        outcomes.append(Outcome(requirement, tuple(sorted(by))))
    return Evaluation(tuple(outcomes), tuple(not_counted), tuple(blocking))
