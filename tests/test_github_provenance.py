"""Who a deployment comes from: the merged pull request of a pushed commit, who merged it,
who approved its merged head, read from the local GitHub server through PyGithub."""

from __future__ import annotations

import copy
from pathlib import Path

from reconciler.deploy.model import Deployment
from reconciler.github import api as gh
from reconciler.github import context, provenance
from reconciler.github.retry import RetryPolicy
from reconciler.policy.approvals import Review
from tests.github_server import GitHubServer, load_payload
from tests.github_support import HEAD, REPO, env_for, server, shapes_user

_ = server
MERGE = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"  # pull_request.closed.json's merge commit


def _merged(gh_server: GitHubServer, merger: str | None = "maintainer") -> None:
    payload = copy.deepcopy(load_payload("pull_request.closed.json"))
    pull = payload["pull_request"]
    pull.update(merged=True, merged_at="2019-05-15T15:20:40Z")
    if merger is not None:
        pull["merged_by"] = shapes_user(merger)
    gh_server.add_payload(payload)


def _api(gh_server: GitHubServer, tmp: Path) -> gh.Api:
    ctx = context.from_env(env_for(gh_server, tmp, "push", {"after": MERGE}))
    return gh.Api(gh.connect(ctx), ctx.repository, RetryPolicy(sleep=lambda _: None))


def test_merged_pull_request_who_merged_and_who_approved_the_merged_head(
    server: GitHubServer, tmp_path: Path
) -> None:
    _merged(server)
    server.add_review(REPO, 2, "alice", "APPROVED", HEAD)
    server.add_review(REPO, 2, "bob", "APPROVED", "0" * 40)  # an older head: not merged
    server.add_review(REPO, 2, "Codertocat", "APPROVED", HEAD)  # the author's own
    server.add_review(REPO, 2, "carol", "APPROVED", HEAD)
    server.add_review(REPO, 2, "carol", "DISMISSED", HEAD)
    server.add_review(REPO, 2, "dave", "COMMENTED", HEAD)

    found = provenance.for_commit(_api(server, tmp_path), MERGE, "deployer")

    assert (found.pull_request, found.author, found.merged_by) == (2, "Codertocat", "maintainer")
    assert found.approved_by == ("alice",)
    reasons = dict(found.not_counted)
    assert "not the head commit" in reasons["bob"]
    assert "own change" in reasons["codertocat"] and reasons["carol"] == "review dismissed"
    deployment = Deployment(at="2026-01-01T00:00:00Z", **found.deployment_fields())  # type: ignore[arg-type]
    assert deployment.by == "deployer" and deployment.pull_request == 2
    assert deployment.commit == MERGE and deployment.approved_by == ["alice"]


def test_a_commit_without_a_merged_pull_request_says_why(
    server: GitHubServer, tmp_path: Path
) -> None:
    found = provenance.for_commit(_api(server, tmp_path), "d" * 40, None)
    assert found.pull_request is None and found.merged_by is None and found.approved_by == ()
    assert "no merged pull request has dddddddddddd" in found.why
    assert found.deployment_fields()["by"] == ""


def test_from_env_reads_the_actor_and_needs_actions_and_a_token(
    server: GitHubServer, tmp_path: Path
) -> None:
    _merged(server, merger=None)
    env = env_for(server, tmp_path, "push", {"after": MERGE}) | {"GITHUB_ACTOR": "octo"}
    assert not provenance.under_actions(env)
    assert provenance.under_actions(env | {"GITHUB_ACTIONS": "true"})
    found, log = provenance.from_env(MERGE, env)
    assert (found.actor, found.pull_request, found.merged_by, log) == ("octo", 2, None, [])


def test_approved_counts_each_reviewers_latest_review_only() -> None:
    reviews = [
        Review("erin", "APPROVED", "h", "2026-01-01T00:00:00Z"),
        Review("erin", "CHANGES_REQUESTED", "h", "2026-01-02T00:00:00Z"),
        Review("finn", "CHANGES_REQUESTED", "h", "2026-01-01T00:00:00Z"),
        Review("finn", "APPROVED", "h", "2026-01-02T00:00:00Z"),
    ]
    assert provenance.approved(reviews, "someone", "h")[0] == ("finn",)
