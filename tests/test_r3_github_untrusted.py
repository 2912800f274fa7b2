"""What a pull request's own report (a fork's workflow writes any plan.json) can still try
against `alm github pr`, against the local GitHub server: hiding a code-owned file past
the 3,000 files GitHub lists, and naming hundreds of teams to spend the repository's API
budget on reading their members."""

from __future__ import annotations

from pathlib import Path

from reconciler.github import owners
from reconciler.github.api import MAX_PULL_FILES
from reconciler.plan.model import Approval, PlanReport
from tests import planfixtures
from tests.github_server import GitHubServer
from tests.github_support import HEAD, NUMBER, REPO, report_for, run_pr, server

_ = server
OWNED = "agents/support-triage/agent.yaml"  # @acme/support-eng owns agents/ at the base


def _statuses(gh: GitHubServer) -> list[str]:
    return [s["state"] for s in gh.state.statuses]


def _without_approvals() -> PlanReport:
    plan = planfixtures.tiny()  # verdict ready
    return plan.model_copy(update={"approvals": plan.approvals.model_copy(update={"required": []})})


def test_a_code_owned_file_past_the_listed_3000_blocks_the_gate(
    server: GitHubServer, tmp_path: Path
) -> None:
    padding = [f"docs/pad/{i:05}.md" for i in range(MAX_PULL_FILES)]  # listed first
    server.set_files(REPO, NUMBER, [*padding, OWNED])
    ran = run_pr(server, tmp_path, report_for(_without_approvals()))
    assert _statuses(server) == ["failure"]
    assert ran.result.summary == f"PR #{NUMBER}: comment created; alm/gate failure"
    [check] = server.state.check_runs
    assert check["conclusion"] == "failure"
    assert "3,001 files; GitHub lists only 3,000" in check["output"]["summary"]


def test_3000_files_all_listed_are_checked_as_usual(server: GitHubServer, tmp_path: Path) -> None:
    padding = [f"docs/pad/{i:05}.md" for i in range(MAX_PULL_FILES - 1)]
    server.set_files(REPO, NUMBER, [*padding, OWNED])
    run_pr(server, tmp_path, report_for(_without_approvals()))
    assert _statuses(server) == ["pending"]  # the owner's approval added, nothing blocked


def test_unlisted() -> None:
    assert not owners.unlisted(2_999, 2_999)
    assert not owners.unlisted(3_000, 3_000)
    assert owners.unlisted(3_000, 3_001)
    assert owners.unlisted(3_000, None)  # GitHub's count missing: cannot tell, fail closed
    assert "more than 3,000 files" in owners.too_many_files(2, None)


def test_a_report_naming_hundreds_of_teams_reads_at_most_50(
    server: GitHubServer, tmp_path: Path
) -> None:
    plan = _without_approvals()
    forged = [
        Approval.model_validate(
            {"id": f"p{i}", "from": [f"@acme/t{i:03}"], "reason": "r", "source": "policy"}
        )
        for i in range(300)
    ]
    approvals = plan.approvals.model_copy(update={"required": forged})
    server.set_team("acme/support-eng", ["reviewer"])
    server.add_review(REPO, NUMBER, "reviewer", "APPROVED", HEAD)  # not the author
    ran = run_pr(server, tmp_path, report_for(plan.model_copy(update={"approvals": approvals})))
    reads = server.requests_to("GET", r"/orgs/acme/teams/[^/]+/members$")
    assert len(reads) == owners.MAX_TEAMS
    assert reads[0].path.endswith("/support-eng/members")  # the base's CODEOWNERS' first
    assert any("251 more team(s)" in line for line in ran.log), ran.log
    [check] = server.state.check_runs
    assert "@acme/support-eng" not in check["output"]["summary"]  # its approval counted
