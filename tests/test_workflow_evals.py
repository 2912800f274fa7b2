"""The pull-request workflow, run for real: every `run:` step of `validate`, of the `evals`
matrix and of `eval-verdict`, in bash as GitHub runs them, on a real git repo with a base
branch and a change. Steps that `uses:` an action (checkout, cache, artifacts) are
GitHub's; the shards here share one folder, as the download step makes. Step outputs
(`$GITHUB_OUTPUT`) and `if:` conditions work as on GitHub, for the forms the workflow
uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from reconciler.cli import main
from tests.gitrepo import GitRepo
from tests.workflow_steps import StepRun, run_job, workflow

__all__ = ["StepRun", "jobs", "link_venv", "pull_request", "run_job", "run_workflow"]

TRIAGE = "agents/support-triage/agent.yaml"


def jobs() -> dict[str, Any]:
    return dict(workflow("alm-pr.yml")["jobs"])


def link_venv(repo: GitRepo) -> None:
    """`make setup` makes .venv; here it is the test's own environment."""
    if not (repo.path / ".venv").exists():
        (repo.path / ".venv").symlink_to(Path(sys.executable).parent.parent)


def run_workflow(
    repo: GitRepo, base_ref: str = "main", event: dict[str, str] | None = None
) -> tuple[list[StepRun], list[StepRun]]:
    """Every shard of `evals`, then `eval-verdict`, on the repo's HEAD against base_ref
    (a pull_request event, unless `event` gives another context)."""
    link_venv(repo)
    workflow = jobs()
    shards = workflow["evals"]["strategy"]["matrix"]["shard"]
    event = {"github.base_ref": base_ref, **(event or {})}
    shard_runs: list[StepRun] = []
    for shard in shards:
        context = {
            **event,
            "matrix.shard": str(shard),
            "strategy.job-total": str(len(shards)),
            "github.sha": repo.git("rev-parse", "HEAD"),
        }
        shard_runs += run_job(workflow["evals"], repo.path, context)
    verdict = run_job(workflow["eval-verdict"], repo.path, event)
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
    assert gates.code == 0 and "support-triage" in gates.output  # exit 1: recorded, goes on
    assert by_name["Verdict"].code == 1  # the swap fails its gate
    assert "::error::gates failed" in by_name["Verdict"].output
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
    assert [run.code for run in verdict] == [0, 0, 0, 0], [run.output for run in verdict]
    assert cases(fleet_repo.path / "head.json") == []


def test_an_unknown_base_ref_stops_every_job_at_the_step_that_exits_2(
    fleet_repo: GitRepo,
) -> None:
    """Exit 2 (a usage error) is no verdict: the step fails and the job stops there,
    where exit 1 would have been let through."""
    pull_request(fleet_repo)
    fleet_repo.replace(TRIAGE, "  name: gpt-4.1-mini\n", "  name: gpt-4.1-nano\n")
    fleet_repo.commit("support-triage: a cheaper model")
    shard_runs, verdict = run_workflow(fleet_repo, base_ref="no-such-branch")

    shards = len(jobs()["evals"]["strategy"]["matrix"]["shard"])
    assert [run.name for run in shard_runs] == [
        "Evals at head (agents this change affects)"
    ] * shards
    assert all(run.code != 0 for run in shard_runs)  # and the base step never ran
    assert all("unknown git ref 'origin/no-such-branch'" in run.output for run in shard_runs)
    # no shard wrote results: merging nothing is a usage error, and the verdict job stops
    assert [run.name for run in verdict] == [
        "Merge the base shards (their gates do not decide this change)"
    ]
    assert verdict[0].code != 0 and "Error: Invalid value" in verdict[0].output


def run_validate_job(repo: GitRepo, base_ref: str = "main") -> dict[str, StepRun]:
    link_venv(repo)
    runs = run_job(jobs()["validate"], repo.path, {"github.base_ref": base_ref})
    return {run.name: run for run in runs}


def governed(repo: GitRepo) -> None:
    """The schemas and CODEOWNERS a repository commits, generated as a new user would (by
    alm's own entry point, in this process: they are the setup here, not what is tested)."""
    link_venv(repo)
    for args in (["schema"], ["codeowners", "--write"]):
        assert main(["-C", str(repo.path), *args]) == 0, args
    repo.commit("schemas and CODEOWNERS")


def test_validate_lets_exit_1_through_to_the_verdict_and_stops_on_2(
    fleet_repo: GitRepo,
) -> None:
    governed(fleet_repo)
    pull_request(fleet_repo)
    fleet_repo.replace(TRIAGE, "max_steps: 8", "max_stepz: 8")
    fleet_repo.commit("a typo in a limit")

    steps = run_validate_job(fleet_repo)
    assert steps["Validate the desired state"].code == 0  # exit 1, recorded
    assert (
        "::error file=agents/support-triage/agent.yaml"
        in steps["Validate the desired state"].output
    )
    assert "What this change does" in steps and "Policies and required approvals" in steps
    assert steps["Verdict"].code == 1
    assert "::error::validate failed" in steps["Verdict"].output
    assert "::error::schemas failed" not in steps["Verdict"].output

    steps = run_validate_job(fleet_repo, base_ref="no-such-branch")
    assert steps["What this change does"].code == 2
    assert "unknown git ref 'origin/no-such-branch'" in steps["What this change does"].output
    assert "Policies and required approvals" not in steps and "Verdict" not in steps


def test_validate_passes_a_clean_change(fleet_repo: GitRepo) -> None:
    governed(fleet_repo)
    pull_request(fleet_repo)
    fleet_repo.write("README.md", "docs only\n")
    fleet_repo.commit("docs")
    steps = run_validate_job(fleet_repo)
    assert {name: run.code for name, run in steps.items()} == dict.fromkeys(steps, 0), [
        run.output for run in steps.values()
    ]
    assert list(steps)[-1] == "Verdict"
