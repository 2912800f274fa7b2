"""The pull-request workflow's sharded evals, run for real: every `run:` step of the
`evals` matrix and of `eval-verdict`, in bash as GitHub runs them, on a real git repo
with a base branch and a change. Steps that `uses:` an action (checkout, cache,
artifacts) are GitHub's; the shards here share one folder, as the download step makes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.gitrepo import PROJECT, GitRepo

WORKFLOW = PROJECT / ".github" / "workflows" / "alm-pr.yml"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@dataclass
class StepRun:
    name: str
    code: int
    output: str


def jobs() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"])


def substitute(script: str, context: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in context, f"the test does not know the expression {name!r}"
        return context[name]

    return EXPRESSION.sub(value, script)


def run_job(job: dict[str, Any], repo: Path, context: dict[str, str]) -> list[StepRun]:
    """The job's run steps, honouring `if:` as GitHub does for success() / failure()."""
    runs: list[StepRun] = []
    failed = False
    for step in job["steps"]:
        if "run" not in step or step["run"].strip() == "make setup":
            continue
        condition = str(step.get("if", "success()"))
        if failed and "failure()" not in condition and "always()" not in condition:
            continue
        done = subprocess.run(
            [
                "bash",
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                "-c",
                substitute(step["run"], context),
            ],
            cwd=repo,
            capture_output=True,
            text=True,
            env={**os.environ, "GITHUB_ACTIONS": "true"},
            timeout=300,
            check=False,
        )
        runs.append(
            StepRun(step.get("name", step["run"]), done.returncode, done.stdout + done.stderr)
        )
        failed = failed or done.returncode != 0
    return runs


def run_workflow(repo: GitRepo) -> tuple[list[StepRun], list[StepRun]]:
    """Every shard of `evals`, then `eval-verdict`, on the repo's HEAD against main."""
    (repo.path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    workflow = jobs()
    shards = workflow["evals"]["strategy"]["matrix"]["shard"]
    shard_runs: list[StepRun] = []
    for shard in shards:
        context = {
            "matrix.shard": str(shard),
            "strategy.job-total": str(len(shards)),
            "github.base_ref": "main",
            "github.sha": repo.git("rev-parse", "HEAD"),
        }
        shard_runs += run_job(workflow["evals"], repo.path, context)
    verdict = run_job(workflow["eval-verdict"], repo.path, {"github.base_ref": "main"})
    return shard_runs, verdict


def pull_request(repo: GitRepo) -> None:
    """main is the base (also as origin/main); the branch `change` is checked out."""
    repo.git("update-ref", "refs/remotes/origin/main", "main")
    repo.git("checkout", "-q", "-b", "change")


def cases(path: Path) -> list[tuple[str, str, int, str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return sorted((c["agent"], c["case_id"], c["trial"], c["status"]) for c in data["cases"])


def test_a_model_swap_is_evaluated_over_every_shard_at_base_and_head(fleet_repo: GitRepo) -> None:
    pull_request(fleet_repo)
    fleet_repo.replace(
        "agents/support-triage/agent.yaml", "  name: gpt-4.1-mini\n", "  name: gpt-4.1-nano\n"
    )
    fleet_repo.commit("support-triage: a cheaper model")
    shard_runs, verdict = run_workflow(fleet_repo)

    assert all(run.code in (0, 1) for run in shard_runs), [r.output for r in shard_runs]
    assert all("affected since" in run.output for run in shard_runs)
    by_name = {run.name: run for run in verdict}
    gates = by_name["Gates at head, over every shard"]
    assert gates.code == 1 and "support-triage" in gates.output  # the swap fails its gate
    compare = by_name["Regressions, head against base, on paired cases"]  # ran after a failure
    assert compare.code == 0 and "support-triage: no regression flagged" in compare.output

    # the shards together are exactly one unsharded run of the same agents
    whole = subprocess.run(
        [".venv/bin/alm", "eval", "--affected-since", "origin/main", "--out", "whole.json"],
        cwd=fleet_repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert whole.returncode == 1
    head = cases(fleet_repo.path / "head.json")
    assert head == cases(fleet_repo.path / "whole.json")
    assert {agent for agent, *_ in head} == {"support-triage"}
    base = cases(fleet_repo.path / "base.json")
    assert {agent for agent, *_ in base} == {"support-triage"} and len(base) == len(head)
    assert all(status == "passed" for *_, status in base)


def test_a_change_that_affects_no_agent_passes_with_empty_shards(fleet_repo: GitRepo) -> None:
    pull_request(fleet_repo)
    fleet_repo.write("README.md", "docs only\n")
    fleet_repo.commit("docs")
    shard_runs, verdict = run_workflow(fleet_repo)

    assert [run.code for run in shard_runs] == [0] * len(shard_runs)
    assert all("affected since" in run.output and "none" in run.output for run in shard_runs)
    assert [run.code for run in verdict] == [0, 0, 0], [run.output for run in verdict]
    assert cases(fleet_repo.path / "head.json") == []
