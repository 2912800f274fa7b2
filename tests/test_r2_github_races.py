"""What happens between alm's listing and its write, against the local GitHub server: a
comment or issue deleted meanwhile (by a person, or a concurrent run), two runs of
`alm github pr` on one pull request at once, and a push landing while a run decides."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from reconciler.github import api_deploy, deployed, ops_issues, pr
from tests import github_shapes, planfixtures
from tests.github_http import Recorded, Reply
from tests.github_server import GitHubServer
from tests.github_support import (
    HEAD,
    NUMBER,
    REPO,
    comment_bodies,
    env_for,
    report_for,
    run_pr,
    server,
)
from tests.test_github_ops_issues import breach

_ = server
Hook = Callable[[Recorded], Reply | None]


def _marked(gh: GitHubServer, marker: str = pr.MARKER) -> list[str]:
    return [b for b in comment_bodies(gh) if b.startswith(marker + "\n")]


def _delete_when_edited(gh: GitHubServer) -> Hook:
    """Deletes a comment the moment a PATCH for it arrives: the PATCH then finds it gone
    (404), as when a person deletes it between alm's listing and its edit."""

    def hook(r: Recorded) -> Reply | None:
        found = re.fullmatch(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)", r.path)
        if r.method == "PATCH" and found:
            with gh.lock:
                for cs in gh.state.comments.values():
                    cs[:] = [c for c in cs if c["id"] != int(found[1])]
            gh.hooks.remove(hook)
        return None

    return hook


def test_sticky_deleted_before_the_edit_is_created_anew(
    server: GitHubServer, tmp_path: Path
) -> None:
    run_pr(server, tmp_path, report_for())
    server.hooks.append(_delete_when_edited(server))
    again = run_pr(server, tmp_path, report_for(planfixtures.tiny()))
    assert "comment created" in again.result.summary
    [body] = _marked(server)
    assert "Blocked" not in body  # the second report's, not the first's
    assert len(server.requests_to("PATCH", r"/issues/comments/\d+$")) == 1  # the 404


def test_deploy_comment_deleted_before_the_edit_is_created_anew(
    server: GitHubServer, tmp_path: Path
) -> None:
    _, api = api_deploy.session(env_for(server, tmp_path, "push", {}))
    pull = api.pull(NUMBER)
    assert pull is not None
    marker = deployed.MARKER
    assert deployed.post(api, pull, f"{marker}\nwould deploy") == "created"
    server.hooks.append(_delete_when_edited(server))
    assert deployed.post(api, pull, f"{marker}\ndeployed to dev") == "created"
    assert _marked(server, marker) == [f"{marker}\ndeployed to dev"]


def test_breach_issue_deleted_before_the_edit_is_opened_anew(
    server: GitHubServer, tmp_path: Path
) -> None:
    _, api = api_deploy.session(env_for(server, tmp_path, "schedule", {}))
    sync, body = ops_issues.sync_breach_issue, ops_issues.breach_body
    assert sync(api, "prod", "support-triage", body("prod", "support-triage", [breach()]), None)
    [first] = server.issues(REPO)

    def deleted(r: Recorded) -> Reply | None:  # GitHub answers 410 for a deleted issue
        if r.method == "PATCH" and r.path.endswith(f"/issues/{first['number']}"):
            with server.lock:
                del server.state.issues[(REPO.lower(), first["number"])]
            server.hooks.remove(deleted)
            return 410, github_shapes.error(410, "This issue was deleted"), {}
        return None

    server.hooks.append(deleted)
    worse = body("prod", "support-triage", [breach(value=0.4)])
    said = sync(api, "prod", "support-triage", worse, None)
    [made] = server.issues(REPO)
    assert made["body"] == worse and len(server.requests_to("POST", r"/issues$")) == 2
    assert said == f"prod/support-triage: breach issue #{made['number']} opened"


def _run_twice_at_once(gh: GitHubServer, tmp: Path) -> list[str]:
    """Two runs that both see no sticky comment, as a re-run started while the first runs,
    made deterministic: the other run does all its work the moment this run's first
    comment write arrives (after this run listed the comments and found none), so no
    thread timing is involved. Each run's summary, the other run's first."""
    summaries: list[str] = []

    def hook(r: Recorded) -> Reply | None:
        if r.method == "POST" and r.path.endswith(f"/issues/{NUMBER}/comments"):
            gh.hooks.remove(hook)
            (tmp / "other").mkdir()
            summaries.append(run_pr(gh, tmp / "other", report_for()).result.summary)
        return None

    gh.hooks.append(hook)
    (tmp / "this").mkdir()
    summaries.append(run_pr(gh, tmp / "this", report_for()).result.summary)
    return summaries


def test_two_runs_at_once_leave_one_sticky_comment(server: GitHubServer, tmp_path: Path) -> None:
    summaries = _run_twice_at_once(server, tmp_path)
    assert sorted(summaries) == ["PR #2: comment created; alm/gate failure"] * 2
    assert len(server.requests_to("POST", r"/issues/2/comments$")) == 2  # both created
    assert len(_marked(server)) == 1  # and converged on one
    again = run_pr(server, tmp_path, report_for(planfixtures.tiny()))
    assert "comment edited" in again.result.summary and len(_marked(server)) == 1


def test_a_duplicate_left_behind_is_deleted_and_a_persons_copy_kept(
    server: GitHubServer, tmp_path: Path
) -> None:
    run_pr(server, tmp_path, report_for())
    [kept] = server.comments(REPO, NUMBER)
    server.add_comment(REPO, NUMBER, kept["body"])  # a person pasting it: never deleted
    with server.lock:  # what a run killed before it converged leaves
        extra = github_shapes.issue_comment(
            server.api_url, REPO, NUMBER, server.next_id(), kept["body"], server.bot, 1
        )
        server.state.comments[(REPO.lower(), NUMBER)].append(extra)
    done = run_pr(server, tmp_path, report_for())  # the same report: nothing else to write
    assert "comment unchanged" in done.result.summary
    left = [c["id"] for c in server.comments(REPO, NUMBER)]
    assert left == [kept["id"], left[1]] and extra["id"] not in left  # ours and the person's


def test_a_push_while_the_run_decides_leaves_the_newer_comment_alone(
    server: GitHubServer, tmp_path: Path
) -> None:
    newer = "f" * 40
    newer_body = f"{pr.MARKER}\nthe report for {newer}, posted by the newer push's run"

    def push_lands(r: Recorded) -> Reply | None:  # between the status and the comment
        if r.method == "POST" and "/statuses/" in r.path:
            with server.lock:
                server.pull(REPO, NUMBER)["head"]["sha"] = newer
                made = github_shapes.issue_comment(
                    server.api_url, REPO, NUMBER, server.next_id(), newer_body, server.bot, 2
                )
                server.state.comments[(REPO.lower(), NUMBER)].append(made)
            server.hooks.remove(push_lands)
        return None

    server.hooks.append(push_lands)
    stale = run_pr(server, tmp_path, report_for(planfixtures.tiny()))
    assert "no comment posted" in stale.result.summary
    assert HEAD[:12] in stale.result.summary and newer[:12] in stale.result.summary
    assert comment_bodies(server) == [newer_body]
