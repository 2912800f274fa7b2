"""The push workflow alm-deploy.yml: one job per environment in the promotion order that
policies/environments.yaml declares, each behind its GitHub Environment, in its own
concurrency group, with least privilege; nothing kept on the runner's disk (the example
fleet's targets and audit logs are branches or a registry); and the dev job's run steps
for real (alm apply, then alm github deployed against the local GitHub server, pushing to
a local origin)."""

from __future__ import annotations

import copy
import json
import subprocess
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
        assert comment == ".venv/bin/alm github deployed"  # reads each environment's store


def test_least_privilege() -> None:
    """Nothing at the workflow level; each job reads the code and writes the PR comment;
    only a job whose target or audit log is a branch of this repository may push (and
    keeps the checkout's credentials); a registry token is the Environment's secret, given
    to that job's apply step alone."""
    wf = workflow(WF)
    assert wf["permissions"] == {}
    for env in environments():
        job = wf["jobs"][env["name"]]
        target = env["target"]
        audit = env.get("audit", {})
        pushes = (target["type"] == "git" and not target.get("repository")) or (
            audit.get("store") == "git" and not audit.get("repository")
        )
        contents = "write" if pushes else "read"
        assert job["permissions"] == {"contents": contents, "pull-requests": "write"}
        (checkout,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/ch")]
        assert checkout["with"]["persist-credentials"] is pushes
        secrets = {k: v for _, s in steps({"jobs": {"j": job}}) for k, v in s.get("env", {}).items()
                   if "secrets." in str(v)}  # fmt: skip
        wanted = target.get("token_env")
        assert secrets == ({wanted: f"${{{{ secrets.{wanted} }}}}"} if wanted else {})


def test_nothing_is_kept_on_the_runners_disk() -> None:
    """A GitHub-hosted runner starts every job empty: no environment of the example fleet
    deploys to a folder of the checkout or keeps its audit log there, so no artifact has
    to carry anything between jobs or runs."""
    wf = workflow(WF)
    for env in environments():
        assert env["target"]["type"] in ("git", "http"), env["name"]
        assert env["audit"]["store"] == "git", env["name"]
        used = [str(s["uses"]) for s in wf["jobs"][env["name"]]["steps"] if "uses" in s]
        assert not [u for u in used if "artifact" in u]
        (checkout,) = [s for s in wf["jobs"][env["name"]]["steps"]
                       if str(s.get("uses", "")).startswith("actions/checkout")]  # fmt: skip
        assert checkout["with"]["fetch-depth"] == 0


def _merged_as(gh: GitHubServer, sha: str) -> None:
    payload = copy.deepcopy(load_payload("pull_request.closed.json"))
    payload["pull_request"].update(merged=True, merged_at="2026-01-01T00:00:00Z",
                                   merge_commit_sha=sha)  # fmt: skip
    gh.add_payload(payload)


def test_the_dev_job_applies_and_comments_what_went_where(
    server: GitHubServer, fleet_repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link_venv(fleet_repo)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    fleet_repo.git("remote", "add", "origin", str(origin))
    before = fleet_repo.git("rev-parse", "HEAD")
    fleet_repo.replace("agents/support-triage/agent.yaml", "seed: 7", "seed: 8")
    after = fleet_repo.commit("support-triage: a new seed")
    fleet_repo.git("push", "-q", "origin", "main")
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
    # alm pushed the bundles and the audit log to origin's branches, and links the log
    bundles = _git(origin, "ls-tree", "--name-only", "alm/deployments", "dev/").splitlines()
    assert len(bundles) == 3 and all(b.startswith("dev/") for b in bundles)
    tip = _git(origin, "rev-parse", "alm/audit")
    assert _git(origin, "ls-tree", "--name-only", tip) == "dev.jsonl\ndev.jsonl.head"
    for line in (4, 5, 6):  # the result records (lines 1-3: each write started)
        assert (
            f"line {line}](https://github.com/{REPO}/blob/{tip}/dev.jsonl#L{line})"
            in (comment["body"])
        )


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
