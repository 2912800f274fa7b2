"""The pull-request workflow's `plan` job, run for real after the eval jobs (see
test_workflow_evals.py): `alm plan` over the merged base/head results, the report in the
job summary (alm plan writes it), ONE `alm-report` artifact (markdown, JSON, HTML)
whatever the verdict, and a usage error that stops the job before any upload. Under
`pull_request` the runner's event payload is a real webhook payload whose head is the
branch's commit; under `merge_group` the base is the queue's base commit
(github.event.merge_group.base_sha)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import GitRepo, init_repo
from tests.test_workflow_evals import TRIAGE, jobs, pull_request, run_workflow
from tests.workflow_steps import StepRun, run_job

FIXTURES = Path(__file__).parent / "fixtures" / "github"
PLAN = "Plan (verdict, changes, findings, approvals, evals, cost, deploy)"


def pr_event(repo: GitRepo, tmp_path: Path) -> dict[str, str]:
    """A pull_request event context whose payload names the repo's head and base."""
    payload = json.loads((FIXTURES / "pull_request.opened.json").read_text(encoding="utf-8"))
    payload["pull_request"]["head"]["sha"] = repo.git("rev-parse", "HEAD")
    payload["pull_request"]["base"]["sha"] = repo.git("rev-parse", "main")
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return {"github.base_ref": "main", "event_path": str(path)}


def merge_group_event(repo: GitRepo) -> dict[str, str]:
    return {
        "github.event_name": "merge_group",
        "github.base_ref": "",
        "github.event.merge_group.base_sha": repo.git("rev-parse", "main"),
    }


def run_plan(repo: GitRepo, event: dict[str, str]) -> tuple[dict[str, StepRun], list[str]]:
    """The plan job's run steps, and the artifacts its upload steps would upload."""
    actions: list[dict[str, Any]] = []
    runs = run_job(jobs()["plan"], repo.path, event, actions=actions)
    uploads = [a["with"]["name"] for a in actions if "upload-artifact" in a["uses"]]
    return {run.name: run for run in runs}, uploads


def cheaper_model(repo: GitRepo) -> None:
    pull_request(repo)
    repo.replace(TRIAGE, "  name: gpt-4.1-mini\n", "  name: gpt-4.1-nano\n")
    repo.commit("support-triage: a cheaper model")


def report_files(repo: GitRepo) -> dict[str, Path]:
    upload = next(
        s for s in jobs()["plan"]["steps"] if s.get("with", {}).get("name") == "alm-report"
    )
    return {name: repo.path / name for name in upload["with"]["path"].split()}


@pytest.fixture(scope="module")
def evaluated_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[GitRepo, dict[str, str]]:
    """The cheaper model's pull request after every eval shard and the verdict job ran on
    it (the slow part), made once for the tests below; each gets a copy."""
    root = tmp_path_factory.mktemp("evaluated")
    repo = init_repo(root / "repo")
    cheaper_model(repo)
    event = pr_event(repo, root)
    run_workflow(repo, event=event)
    return repo, event


@pytest.fixture
def evaluated(
    evaluated_once: tuple[GitRepo, dict[str, str]], tmp_path: Path
) -> tuple[GitRepo, dict[str, str]]:
    """This test's own copy of evaluated_once's repository (results and all)."""
    made, event = evaluated_once
    copy = GitRepo(tmp_path / "repo")
    subprocess.run(["cp", "-a", str(made.path), str(copy.path)], check=True)
    copy.git("update-index", "-q", "--refresh")  # the copies' new inodes: a clean index
    return copy, event


def test_a_blocked_change_still_uploads_its_report(
    evaluated: tuple[GitRepo, dict[str, str]],
) -> None:
    fleet_repo, event = evaluated
    steps, uploads = run_plan(fleet_repo, event)

    assert steps[PLAN].code == 0, steps[PLAN].output  # exit 1, a verdict: recorded, goes on
    assert uploads == ["alm-report"]
    files = report_files(fleet_repo)
    assert set(files) == {"report.md", "plan.json", "report.html"}
    assert all(path.stat().st_size > 0 for path in files.values())
    plan = json.loads(files["plan.json"].read_text(encoding="utf-8"))
    assert plan["verdict"]["status"] == "blocked"
    assert plan["pull_request"]["number"] == 2  # from the runner's event payload
    assert plan["pull_request"]["head_sha"] == fleet_repo.git("rev-parse", "HEAD")
    markdown = files["report.md"].read_text(encoding="utf-8")  # markdown escapes "-"
    assert "Blocked" in markdown and "support\\-triage" in markdown
    summary = (fleet_repo.path / ".github-step-summary").read_text(encoding="utf-8")
    assert summary.splitlines()[0] == markdown.splitlines()[0] == "## ⛔ alm plan: Blocked"
    assert steps["Verdict"].code == 1
    assert "::error::the gate is blocked" in steps["Verdict"].output


def test_a_usage_error_stops_the_job_before_any_upload(
    evaluated: tuple[GitRepo, dict[str, str]],
) -> None:
    fleet_repo, event = evaluated
    (fleet_repo.path / "head.json").unlink()  # the download brought only part of it

    steps, uploads = run_plan(fleet_repo, event)
    assert steps[PLAN].code != 0 and "head.json" in steps[PLAN].output
    assert list(steps) == [PLAN] and uploads == []  # no summary, no report, no verdict
    assert not (fleet_repo.path / "plan.json").exists()


@pytest.mark.parametrize("change", ["model", "docs"])
def test_a_merge_group_compares_with_the_queue_base_commit(
    fleet_repo: GitRepo, change: str
) -> None:
    """No base branch name under merge_group: the base is a commit; no pull request."""
    if change == "model":
        cheaper_model(fleet_repo)
    else:
        pull_request(fleet_repo)
        fleet_repo.write("README.md", "docs only\n")
        fleet_repo.commit("docs")
    fleet_repo.git("update-ref", "-d", "refs/remotes/origin/main")  # only the sha is given
    event = merge_group_event(fleet_repo)
    shard_runs, verdict = run_workflow(fleet_repo, event=event)
    assert all(run.code in (0, 1) for run in shard_runs + verdict), [
        run.output for run in shard_runs + verdict
    ]

    steps, uploads = run_plan(fleet_repo, event)
    assert steps[PLAN].code == 0, steps[PLAN].output
    assert uploads == ["alm-report"]
    plan = json.loads((fleet_repo.path / "plan.json").read_text(encoding="utf-8"))
    assert plan["pull_request"] is None
    assert plan["provenance"]["base"]["commit"] == fleet_repo.git("rev-parse", "main")
    blocked = plan["verdict"]["status"] == "blocked"
    assert blocked == (change == "model")
    assert steps["Verdict"].code == (1 if blocked else 0)
