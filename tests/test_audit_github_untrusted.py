"""`alm github pr` with a report a pull request's own run wrote (a fork's workflow can
write any plan.json): what reaches GitHub as alm's word is escaped or left out, against
the local GitHub server."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from reconciler.errors import AlmError
from reconciler.plan.model import Links, PlanReport, Reason
from tests import planfixtures
from tests.github_server import GitHubServer
from tests.github_support import (
    REPO,
    comment_bodies,
    report_for,
    run_pr,
    server,
    workflow_run_event,
    writes,
)

_ = server
HOSTILE = "![p](https://evil.example/p.png) <img src=x> @everyone [go](https://evil.example)"


def _with(plan: PlanReport, **update: object) -> PlanReport:
    return report_for(plan.model_copy(update=update))


def test_links_to_another_site_are_not_posted_as_the_bots(
    server: GitHubServer, tmp_path: Path
) -> None:
    evil = "https://evil.example/login"
    own = f"https://github.com/{REPO}/actions/runs/77"
    links = Links(html_report=evil, job_summary=f"{own}#summary", run=evil)
    run_pr(server, tmp_path, _with(planfixtures.typical(), links=links))
    [body] = comment_bodies(server)
    assert "evil.example" not in body
    assert f"]({own}#summary)" in body  # a run of this repository stays a link
    [status] = server.state.statuses
    assert "evil.example" not in str(status.get("target_url"))


def test_a_look_alike_of_this_repositorys_runs_is_not_a_link(
    server: GitHubServer, tmp_path: Path
) -> None:
    tricks = [
        f"https://github.com/{REPO}/actions/runs/1@evil.example/x",
        f"https://github.com/{REPO}/actions/runs/../../../../evil/x",
        f"https://github.com/{REPO}-evil/actions/runs/1",
        f"https://github.com.evil.example/{REPO}/actions/runs/1",
    ]
    for trick in tricks:
        server.state.comments[(REPO.lower(), 2)] = []
        links = Links(html_report=trick, job_summary=trick, run=trick)
        run_pr(server, tmp_path, _with(planfixtures.typical(), links=links))
        [body] = comment_bodies(server)
        assert "](http" not in body, trick


def test_check_run_summary_escapes_the_reports_reasons(
    server: GitHubServer, tmp_path: Path
) -> None:
    plan = planfixtures.typical()
    reasons = [Reason(kind="threshold", text=HOSTILE), *plan.verdict.reasons]
    verdict = plan.verdict.model_copy(update={"reasons": reasons})
    run_pr(server, tmp_path, _with(plan, verdict=verdict))
    [check] = server.state.check_runs
    summary = check["output"]["summary"]
    assert "![p](" not in summary and "<img" not in summary and "[go](" not in summary
    assert "@everyone" not in summary and "@&#8203;everyone" in summary


def test_workflow_run_without_a_head_commit_says_which_field(
    server: GitHubServer, tmp_path: Path
) -> None:
    event = workflow_run_event()
    del event["workflow_run"]["head_sha"]
    with pytest.raises(AlmError, match=r"names no head commit \(workflow_run\.head_sha\)"):
        run_pr(server, tmp_path, report_for(), "workflow_run", event)
    event = copy.deepcopy(workflow_run_event())
    event.pop("workflow_run")
    with pytest.raises(AlmError, match=r"names no head commit \(workflow_run\.head_sha\)"):
        run_pr(server, tmp_path, report_for(), "workflow_run", event)
    assert writes(server) == []


def test_a_pull_request_from_a_deleted_fork_is_named_so(
    server: GitHubServer, tmp_path: Path
) -> None:
    server.pull(REPO, 2)["head"]["repo"] = None
    with pytest.raises(AlmError, match=r"comes from \(a deleted repository\):changes,") as err:
        run_pr(server, tmp_path, report_for(), "workflow_run", workflow_run_event())
    assert "None" not in str(err.value)
    assert writes(server) == []
