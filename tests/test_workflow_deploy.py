"""The push workflow alm-deploy.yml: one job per environment in the promotion order that
policies/environments.yaml declares, each behind its GitHub Environment, in its own
concurrency group, with least privilege; and the dev job's run steps for real (alm apply,
then alm github deployed against the local GitHub server)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github_server import GitHubServer, load_payload
from tests.github_support import REPO, TOKEN, server
from tests.gitrepo import PROJECT, GitRepo
from tests.test_workflow_evals import link_venv
from tests.test_workflows_security import steps, triggers
from tests.workflow_steps import run_job, workflow

_ = server
WF = "alm-deploy.yml"


def environments() -> list[dict[str, Any]]:
    text = (PROJECT / "policies" / "environments.yaml").read_text(encoding="utf-8")
    return list(yaml.safe_load(text)["environments"])


def runs(job: dict[str, Any]) -> list[str]:
    return [str(s["run"]) for s in job["steps"] if "run" in s]


def test_one_job_per_environment_in_promotion_order() -> None:
    wf = workflow(WF)
    assert triggers(wf) == {"push": {"branches": ["main"]}}
    order = [e["name"] for e in environments()]
    assert list(wf["jobs"]) == order
    for before, name in zip([None, *order], order, strict=False):
        job = wf["jobs"][name]
        assert job.get("needs") == before  # each waits for the one before it
        assert job["environment"] == name  # GitHub's reviewers and wait timer hold it
        assert job["concurrency"] == {"group": f"alm-deploy-{name}", "cancel-in-progress": False}
        apply, comment = runs(job)[-2:]
        assert apply == f".venv/bin/alm apply --env {name}"
        assert comment.startswith(".venv/bin/alm github deployed --audit-dir .alm/audit")


def test_least_privilege() -> None:
    """Nothing at the workflow level; each job reads the code and writes the PR comment;
    only a job whose target is a branch of this repository may push; a registry token
    is the Environment's secret, given to that job's apply step alone."""
    wf = workflow(WF)
    assert wf["permissions"] == {}
    for env in environments():
        job = wf["jobs"][env["name"]]
        target = env["target"]
        pushes = target["type"] == "git" and not target.get("repository")
        contents = "write" if pushes else "read"
        assert job["permissions"] == {"contents": contents, "pull-requests": "write"}
        (checkout,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/ch")]
        assert checkout["with"]["persist-credentials"] is pushes
        secrets = {k: v for _, s in steps({"jobs": {"j": job}}) for k, v in s.get("env", {}).items()
                   if "secrets." in str(v)}  # fmt: skip
        wanted = target.get("token_env")
        assert secrets == ({wanted: f"${{{{ secrets.{wanted} }}}}"} if wanted else {})


def test_the_audit_logs_travel_between_jobs_as_artifacts() -> None:
    wf = workflow(WF)
    order = [e["name"] for e in environments()]
    for i, name in enumerate(order):
        used = [s for s in wf["jobs"][name]["steps"] if "uses" in s]
        uploads = [s["with"] for s in used if "upload-artifact" in s["uses"]]
        assert uploads == [
            {"name": f"alm-audit-{name}", "path": f".alm/audit/{name}.jsonl",
             "include-hidden-files": True, "if-no-files-found": "ignore"}
        ]  # fmt: skip
        downloads = [s["with"] for s in used if "download-artifact" in s["uses"]]
        assert len(downloads) == (1 if i else 0)
        assert all(d["path"] == "${{ runner.temp }}/alm-audit" for d in downloads)


def _merged_as(gh: GitHubServer, sha: str) -> None:
    payload = copy.deepcopy(load_payload("pull_request.closed.json"))
    payload["pull_request"].update(merged=True, merged_at="2026-01-01T00:00:00Z",
                                   merge_commit_sha=sha)  # fmt: skip
    gh.add_payload(payload)


def test_the_dev_job_applies_and_comments_what_went_where(
    server: GitHubServer, fleet_repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_venv(fleet_repo)
    before = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace("agents/support-triage/agent.yaml", "seed: 7", "seed: 8")
    after = fleet_repo.commit("support-triage: a new seed")
    _merged_as(server, after)
    event = {**load_payload("push.json"), "before": before, "after": after,
             "ref": "refs/heads/main"}  # fmt: skip
    event_path = tmp_path / "push.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    for name, value in {"GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": server.api_url,
                        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "7",
                        "RUNNER_TEMP": str(tmp_path)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    context = {"github.event_name": "push", "event_path": str(event_path),
               "github.token": TOKEN, "runner.temp": str(tmp_path)}  # fmt: skip

    done = run_job(workflow(WF)["jobs"]["dev"], fleet_repo.path, context, file=WF)

    assert [r.code for r in done] == [0, 0], "\n".join(r.output for r in done)
    assert TOKEN not in "".join(r.output for r in done)
    [comment] = server.comments(REPO, 2)
    assert f"what merging {after[:12]} deployed" in comment["body"]
    assert "[dev.jsonl line" in comment["body"]
    assert "https://github.com/Codertocat/Hello-World/actions/runs/7" in comment["body"]
