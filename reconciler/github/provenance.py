"""Who a deployment comes from, under GitHub Actions: for the pushed commit, the pull
request merged as that commit, who merged it and who approved its merged head.

Approvals follow GitHub's rules as reconciler.policy.approvals applies them to the gate
(each reviewer's latest review, on the head commit that was merged, never the author's
own, dismissed ones not counted): here any reviewer's approval counts, since the gate
already decided which ones were required. The result is plain data; the CLI turns it
into a reconciler.deploy.model.Deployment (and the audit record's `merged_by`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.github import api as gh
from reconciler.github import api_deploy
from reconciler.github.deployed import merged_pull
from reconciler.policy.approvals import Requirement, Review, evaluate


@dataclass(frozen=True)
class Provenance:
    commit: str
    actor: str | None  # who ran the workflow (GITHUB_ACTOR)
    pull_request: int | None = None
    author: str | None = None
    merged_by: str | None = None
    approved_by: tuple[str, ...] = ()
    not_counted: tuple[tuple[str, str], ...] = ()  # (reviewer, why) for the record
    why: str = ""  # when no merged pull request is found: why

    def deployment_fields(self) -> dict[str, object]:
        """The fields of a reconciler.deploy.model.Deployment this knows (not `at`)."""
        return {
            "by": self.actor or self.merged_by or "",
            "commit": self.commit,
            "pull_request": self.pull_request,
            "approved_by": list(self.approved_by),
        }


def approved(
    reviews: list[Review], author: str, head_sha: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Who approved `head_sha` (any reviewer), and whose reviews did not count and why."""
    anyone = Requirement("any-reviewer", tuple(sorted({r.reviewer for r in reviews})), "", "")
    result = evaluate([anyone], reviews, author=author, head_sha=head_sha)
    return result.outcomes[0].approved_by, result.not_counted


def for_commit(api: gh.Api, sha: str, actor: str | None) -> Provenance:
    found = merged_pull(api.pulls_of_commit(sha), sha)
    if found.pull is None:
        return Provenance(commit=sha, actor=actor, why=found.why)
    pull = found.pull
    by, not_counted = approved(api.reviews(pull.number), pull.author, pull.head_sha)
    return Provenance(
        commit=sha,
        actor=actor,
        pull_request=pull.number,
        author=pull.author or None,
        merged_by=api_deploy.merged_by(api, pull.number),
        approved_by=by,
        not_counted=not_counted,
    )


def under_actions(env: Mapping[str, str] | None = None) -> bool:
    values = os.environ if env is None else env
    return values.get("GITHUB_ACTIONS") == "true" and bool(values.get("GITHUB_TOKEN"))


def from_env(sha: str, env: Mapping[str, str] | None = None) -> tuple[Provenance, list[str]]:
    """The provenance of `sha` from the GitHub API the environment names, and the retry
    log. GitHub errors are raised (GithubException, requests errors) for the CLI to word."""
    values = os.environ if env is None else env
    _, api = api_deploy.session(values)
    return for_commit(api, sha, values.get("GITHUB_ACTOR") or None), api.retry.log
