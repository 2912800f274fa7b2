"""`alm github pr` against the local GitHub server over HTTP, with PyGithub and the real
webhook payloads: the sticky comment, the status alm/gate, the check run alm, approvals."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.github import owners, pr, sticky
from reconciler.plan import render_md, verdict
from reconciler.plan.model import FindingEntry, Links, PlanReport
from reconciler.policy.approvals import Review, evaluate
from tests import planfixtures
from tests.github_server import GitHubServer, load_payload
from tests.github_support import (
    HEAD,
    NUMBER,
    REPO,
    comment_bodies,
    report_for,
    run_pr,
    server,
    workflow_run_event,
    writes,
)

_ = server  # the fixture, seeded with the fixture pull request


def expected_body(report: PlanReport) -> str:
    return f"{pr.MARKER}\n{render_md.budgeted(report, 65_536 - len(pr.MARKER) - 1)}"


def pending_report() -> PlanReport:
    """Nothing blocks; only the code owners' approval is missing."""
    plan = planfixtures.tiny()
    approvals = plan.approvals.model_copy(update={"required": [planfixtures.owners_approval()]})
    approvals = approvals.model_copy(
        update={"required": [a.model_copy(update={"approved_by": []}) for a in approvals.required]}
    )
    decided = verdict.decide([], approvals)
    return report_for(plan.model_copy(update={"approvals": approvals, "verdict": decided}))


def statuses(server: GitHubServer) -> list[tuple[str, str, str]]:
    return [(s["sha"], s["context"], s["state"]) for s in server.state.statuses]


def test_first_push_posts_and_the_second_edits(server: GitHubServer, tmp_path: Path) -> None:
    first = run_pr(server, tmp_path, report_for())
    assert "comment created" in first.result.summary
    [body] = comment_bodies(server)
    assert body.startswith(pr.MARKER + "\n") and "Blocked" in body
    assert statuses(server) == [(HEAD, "alm/gate", "failure")]
    assert server.state.check_runs[0]["name"] == "alm"

    second = run_pr(server, tmp_path, report_for(planfixtures.tiny()))
    assert "comment edited" in second.result.summary
    assert len(server.requests_to("POST", r"/issues/2/comments$")) == 1
    assert len(server.requests_to("PATCH", r"/issues/comments/\d+$")) == 1
    [edited] = comment_bodies(server)
    assert edited != body and edited.startswith(pr.MARKER + "\n")


def test_sticky_comment_on_page_2_of_45_is_edited(server: GitHubServer, tmp_path: Path) -> None:
    for i in range(40):
        server.add_comment(REPO, NUMBER, f"looks good {i}")
    run_pr(server, tmp_path, report_for(), per_page=30)
    for i in range(3):
        server.add_comment(REPO, NUMBER, f"one more {i}")
    server.add_comment(REPO, NUMBER, f"{pr.MARKER}\nfake, by a person")  # never ours
    sticky_id = server.comments(REPO, NUMBER)[40]["id"]
    before = len(server.requests)

    run_pr(server, tmp_path, report_for(planfixtures.tiny()), per_page=30)
    listed = server.requests_to("GET", r"/issues/2/comments$")
    assert [r.query for r in listed[-2:]] == ["", "page=2"]  # 30 a page: 45 comments, 2 pages
    assert len(server.requests_to("POST", r"/issues/2/comments$")) == 1  # the first run's
    patched = [r.path for r in server.requests[before:] if r.method == "PATCH"]
    assert patched == [f"/repos/{REPO}/issues/comments/{sticky_id}"]
    bodies = comment_bodies(server)
    assert len(bodies) == 45 and bodies[44].endswith("fake, by a person")


def test_unchanged_body_writes_nothing_and_costs_at_most_6_calls(
    server: GitHubServer, tmp_path: Path
) -> None:
    event = workflow_run_event()
    run_pr(server, tmp_path, report_for(), "workflow_run", event)
    before = len(server.requests)
    again = run_pr(server, tmp_path, report_for(), "workflow_run", event)
    made = server.requests[before:]
    assert "nothing changed" in again.result.summary
    assert [r.method for r in made] == ["GET"] * len(made)  # no write at all
    assert len(made) <= 6, [r.path for r in made]
    assert len(comment_bodies(server)) == 1 and len(server.state.statuses) == 1


def test_review_on_an_old_commit_does_not_count(server: GitHubServer, tmp_path: Path) -> None:
    server.set_team("acme/support-eng", ["dana"])
    server.add_review(REPO, NUMBER, "dana", "APPROVED", "f" * 40)
    run_pr(server, tmp_path, pending_report())
    assert statuses(server)[-1][2] == "pending"
    assert "not the head commit" in comment_bodies(server)[0]

    server.add_review(REPO, NUMBER, "dana", "APPROVED", HEAD)
    run_pr(server, tmp_path, pending_report())
    assert statuses(server)[-1][2] == "success"
    assert server.requests_to("GET", r"/orgs/acme/teams/support-eng/members$")


def test_self_approval_and_unreadable_team_do_not_count(
    server: GitHubServer, tmp_path: Path
) -> None:
    server.team_refusals["acme/support-eng"] = 403
    server.add_review(REPO, NUMBER, "Codertocat", "APPROVED", HEAD)  # the author
    server.add_review(REPO, NUMBER, "dana", "APPROVED", HEAD)
    ran = run_pr(server, tmp_path, pending_report())
    assert statuses(server)[-1][2] == "pending"
    assert any("cannot read the members of @acme/support-eng" in line for line in ran.log)


def test_review_event_updates_approvals_from_the_stored_report(
    server: GitHubServer, tmp_path: Path
) -> None:
    server.set_team("acme/support-eng", ["dana"])
    run_pr(server, tmp_path, pending_report())
    review_event = load_payload("pull_request_review.submitted.json")
    review = server.add_review(REPO, NUMBER, "dana", "APPROVED", HEAD)
    stored = pending_report()
    ran = run_pr(server, tmp_path, stored, "pull_request_review", review_event)
    assert "comment edited" in ran.result.summary
    assert statuses(server)[-1][2] == "success"
    given = [Review("dana", "APPROVED", HEAD, review["submitted_at"])]
    evaluation = evaluate(
        owners.requirements(stored), given, author="Codertocat", head_sha=HEAD,
        teams={"@acme/support-eng": ["dana"]},
    )  # fmt: skip
    # the stored report (its evals as recorded) with the reviews counted, nothing re-run
    assert comment_bodies(server) == [expected_body(verdict.with_reviews(stored, evaluation, HEAD))]


def test_base_codeowners_add_what_a_crafted_report_dropped(
    server: GitHubServer, tmp_path: Path
) -> None:
    plan = planfixtures.tiny()
    no_approvals = plan.model_copy(
        update={"approvals": plan.approvals.model_copy(update={"required": []})}
    )
    ran = run_pr(server, tmp_path, report_for(no_approvals))
    assert statuses(server)[-1][2] == "pending"  # @acme/support-eng owns agents/ at the base
    assert any("requires 1 approval(s) the report lacked" in line for line in ran.log)


def test_fork_pr_under_workflow_run_with_empty_pull_requests(
    server: GitHubServer, tmp_path: Path
) -> None:
    fork = "forker/Hello-World"
    server.pull(REPO, NUMBER)["head"]["repo"]["full_name"] = fork
    event = workflow_run_event(repo=fork)
    assert event["workflow_run"]["pull_requests"] == []
    ran = run_pr(server, tmp_path, report_for(), "workflow_run", event)
    assert "comment created" in ran.result.summary
    assert statuses(server) == [(HEAD, "alm/gate", "failure")]


def test_crafted_artifact_naming_another_pr_is_refused(
    server: GitHubServer, tmp_path: Path
) -> None:
    other = copy.deepcopy(load_payload("pull_request.opened.json"))
    other["pull_request"].update(number=3)
    other["pull_request"]["head"].update(sha="3" * 40, ref="other-branch")
    server.add_payload(other)
    event = workflow_run_event()  # the run that made the artifact ran on PR #2's head
    with pytest.raises(AlmError, match="refused: the report records head 333333333333"):
        run_pr(server, tmp_path, report_for(number=3, head="3" * 40), "workflow_run", event)
    with pytest.raises(AlmError, match="refused: pull request #3 comes from"):
        run_pr(server, tmp_path, report_for(number=3, head=HEAD), "workflow_run", event)
    with pytest.raises(AlmError, match="refused: pull request #99 does not exist"):
        run_pr(server, tmp_path, report_for(number=99, head=HEAD), "workflow_run", event)
    assert writes(server) == [] and comment_bodies(server) == []


def test_newer_push_since_the_report_posts_nothing(server: GitHubServer, tmp_path: Path) -> None:
    server.pull(REPO, NUMBER)["head"]["sha"] = "9" * 40
    ran = run_pr(server, tmp_path, report_for(), "workflow_run", workflow_run_event())
    assert "a newer push" in ran.result.summary
    assert writes(server) == []


def test_502_twice_then_201(server: GitHubServer, tmp_path: Path) -> None:
    server.fail_next(502, times=2, method="POST", path=r"/issues/2/comments$")
    ran = run_pr(server, tmp_path, report_for())
    assert len(server.requests_to("POST", r"/issues/2/comments$")) == 3
    assert len(comment_bodies(server)) == 1
    assert len(ran.sleeps) == 2 and all(s > 0 for s in ran.sleeps)
    assert sum("HTTP 502" in line and "retrying" in line for line in ran.log) == 2


def test_secondary_rate_limit_waits_as_retry_after_says(
    server: GitHubServer, tmp_path: Path
) -> None:
    server.fail_next(403, retry_after="1", method="POST", path=r"/statuses/")
    ran = run_pr(server, tmp_path, report_for())
    assert ran.sleeps == [1.0]
    assert statuses(server) == [(HEAD, "alm/gate", "failure")]


def test_comment_that_cannot_be_posted_fails_loudly(server: GitHubServer, tmp_path: Path) -> None:
    server.fail_next(403, message="Resource not accessible by integration", method="POST",
                     path=r"/issues/2/comments$")  # fmt: skip
    with pytest.raises(AlmError, match=r"could not post the comment on PR #2: HTTP 403"):
        run_pr(server, tmp_path, report_for())


def test_a_70000_character_report_stays_one_valid_comment(
    server: GitHubServer, tmp_path: Path
) -> None:
    run = f"https://github.com/{REPO}/actions/runs/9"  # links elsewhere are not posted
    own = Links(html_report=f"{run}/artifacts/7", job_summary=f"{run}#summary", run=run)
    huge = report_for(planfixtures.huge().model_copy(update={"links": own}))
    assert len(render_md.full(huge)) > 70_000
    run_pr(server, tmp_path, huge)
    [body] = comment_bodies(server)
    assert sticky.utf16_length(body) <= 65_536 and body.startswith(pr.MARKER + "\n")
    assert body.count("<details>") == body.count("</details>")
    assert body == expected_body(
        verdict.with_reviews(huge, owners.evaluate_with(
            owners.requirements(huge), [], "Codertocat", HEAD, {}), HEAD)
    )  # fmt: skip


def test_check_run_refused_falls_back_to_the_status(server: GitHubServer, tmp_path: Path) -> None:
    server.check_runs_allowed = False
    ran = run_pr(server, tmp_path, report_for())
    assert server.state.check_runs == [] and statuses(server)
    assert any("may not create check runs" in line for line in ran.log)
    assert len(comment_bodies(server)) == 1


def test_annotations_go_50_a_request(server: GitHubServer, tmp_path: Path) -> None:
    findings = [
        FindingEntry(severity="error", code="bad", message=f"problem {i}", file="agents/a.yaml",
                     line=i + 1, column=1, new=True, source="validate")
        for i in range(120)
    ]  # fmt: skip
    run_pr(server, tmp_path, report_for().model_copy(update={"findings": findings}))
    [run] = server.state.check_runs
    assert len(run["annotations"]) == 120
    assert run["annotations"][119]["start_line"] == 120
    assert len(server.requests_to("PATCH", r"/check-runs/\d+$")) == 2


def test_merge_group_gets_the_status_on_its_commit(server: GitHubServer, tmp_path: Path) -> None:
    event = load_payload("merge_group.checks_requested.json")
    sha = event["merge_group"]["head_sha"]
    ran = run_pr(server, tmp_path, pending_report(), "merge_group", event)
    assert statuses(server) == [(sha, "alm/gate", "success")]  # reviews held by the queue
    assert comment_bodies(server) == [] and "merge group" in ran.result.summary
    run_pr(server, tmp_path, report_for(), "merge_group", event)
    assert statuses(server)[-1] == (sha, "alm/gate", "failure")
