"""The workflows' security properties, read from their YAML: the privileged workflow never
checks out pull request code, the unprivileged ones hold no write permission and no secret,
no `${{ }}` splices outside text into a script, every action is pinned to a major version.
Each check returns its problems; a planted violation shows each one would fail."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.workflow_steps import EXPRESSION, WORKFLOWS, workflow

Workflow = dict[str, Any]
UNPRIVILEGED = ("alm-pr.yml", "alm-review.yml")
PRIVILEGED = ("alm-comment.yml",)
# what a script may splice in: values the workflow itself makes, never event text
TRUSTED_IN_RUN = re.compile(
    r"^(steps\.[\w-]+\.outputs\.[\w-]+|matrix\.[\w-]+|strategy\.job-total)$"
)
GIT_FETCH = re.compile(r"\bgit\s+(checkout|fetch|switch|pull|clone)\b|\bgh\s+pr\s+checkout\b")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def triggers(wf: Workflow) -> dict[str, Any]:
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    return {on: None} if isinstance(on, str) else dict(on or {})


def steps(wf: Workflow) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in wf["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def checkout_problems(wf: Workflow) -> list[str]:
    """A privileged job checks out its own default branch only: no ref, no repository."""
    problems = [
        f"{job}: checkout with {key}: {step['with'][key]}"
        for job, step in steps(wf)
        if uses(step, "actions/checkout")
        for key in ("ref", "repository")
        if key in step.get("with", {})
    ]
    problems += [
        f"{job}: {step.get('uses') or 'run'} given {value}"
        for job, step in steps(wf)
        for value in [*map(str, step.get("with", {}).values()), step.get("run", "")]
        if "workflow_run.head_" in value or GIT_FETCH.search(value)
    ]
    if "pull_request_target" in triggers(wf):
        problems.append("trigger pull_request_target")
    return problems


def artifact_problems(wf: Workflow) -> list[str]:
    """Only `alm-report`, downloaded outside the checkout, from the triggering run or the
    run the job looked up."""
    problems = []
    for job, step in steps(wf):
        if not uses(step, "actions/download-artifact"):
            continue
        given = step.get("with", {})
        if given.get("name") != "alm-report":
            problems.append(f"{job}: downloads {given.get('name') or 'every artifact'}")
        if not str(given.get("path", "")).startswith("${{ runner.temp }}/"):
            problems.append(f"{job}: downloads into the checkout ({given.get('path')})")
    return problems


def permission_problems(wf: Workflow) -> list[str]:
    """Read-only: contents read at most, no secret, no privileged trigger."""
    problems = []
    scopes = [("workflow", wf), *wf["jobs"].items()]
    for where, scope in scopes:
        granted = scope.get("permissions", {} if where != "workflow" else None)
        if granted is None or isinstance(granted, str):
            problems.append(f"{where}: permissions {granted!r} (default or all)")
            continue
        problems += [f"{where}: {k}: {v}" for k, v in granted.items() if v != "read"]
        problems += [f"{where}: {k} may read" for k in granted if k != "contents"]
    text = yaml.safe_dump(wf)
    problems += [f"uses {m.group(0)}" for m in re.finditer(r"secrets\.\w+", text)]
    on = triggers(wf)
    problems += [f"trigger {t}" for t in ("pull_request_target", "workflow_run") if t in on]
    return problems


def injection_problems(wf: Workflow) -> list[str]:
    return [
        f"{job}: `{step.get('name', step['run'][:30])}` splices ${{{{ {expr} }}}}"
        for job, step in steps(wf)
        if "run" in step
        for expr in EXPRESSION.findall(step["run"])
        if not TRUSTED_IN_RUN.match(expr)
    ]


def pin_problems(wf: Workflow) -> list[str]:
    return [
        f"{job}: {step['uses']} is not pinned to a major version or a commit"
        for job, step in steps(wf)
        if "uses" in step and not str(step["uses"]).startswith("./")
        if not PINNED.match(str(step["uses"]))
    ]


ALL = [f.name for f in sorted(WORKFLOWS.glob("*.yml"))]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("check", [injection_problems, pin_problems], ids=lambda c: c.__name__)
def test_every_workflow(name: str, check: Callable[[Workflow], list[str]]) -> None:
    assert check(workflow(name)) == []


@pytest.mark.parametrize("name", PRIVILEGED)
def test_the_privileged_workflow_never_runs_pull_request_code(name: str) -> None:
    wf = workflow(name)
    assert set(triggers(wf)) == {"workflow_run"}
    assert checkout_problems(wf) == [] and artifact_problems(wf) == []
    assert [s for _, s in steps(wf) if uses(s, "actions/checkout")], "checks out its own code"


@pytest.mark.parametrize("name", UNPRIVILEGED)
def test_the_unprivileged_workflows_have_no_write_permission_and_no_secret(name: str) -> None:
    assert permission_problems(workflow(name)) == []


def test_no_workflow_uses_pull_request_target() -> None:
    assert all("pull_request_target" not in triggers(workflow(n)) for n in ALL)


def test_the_comment_workflow_follows_the_pr_and_review_workflows_by_name() -> None:
    """workflow_run matches names: a renamed workflow would silently never be posted."""
    comment = triggers(workflow("alm-comment.yml"))["workflow_run"]
    names = {workflow(n)["name"] for n in UNPRIVILEGED}
    assert set(comment["workflows"]) == names and comment["types"] == ["completed"]
    group = workflow("alm-comment.yml")["concurrency"]["group"]
    assert "github.event.workflow_run.head_sha" in group


def test_the_pr_workflow_runs_for_merge_queues_and_uploads_one_report() -> None:
    wf = workflow("alm-pr.yml")
    assert {"pull_request", "merge_group"} <= set(triggers(wf))
    plan = wf["jobs"]["plan"]
    assert "!cancelled()" in plan["if"]  # after a blocked validate or gate too
    (upload,) = [s for s in plan["steps"] if uses(s, "actions/upload-artifact")]
    assert upload["with"]["name"] == "alm-report"
    assert set(upload["with"]["path"].split()) == {"report.md", "plan.json", "report.html"}
    uploads = [s["with"]["name"] for _, s in steps(wf) if uses(s, "actions/upload-artifact")]
    assert uploads.count("alm-report") == 1


def test_deploys_queue_and_never_race() -> None:
    """One concurrency group per environment, never cancelling a running apply; no
    permission at the workflow level (each job asks for its own: test_workflow_deploy)."""
    wf = workflow("alm-deploy.yml")
    assert triggers(wf) == {"push": {"branches": ["main"]}}
    assert "concurrency" not in wf and wf["permissions"] == {}
    for name, job in wf["jobs"].items():
        assert job["concurrency"] == {"group": f"alm-deploy-{name}", "cancel-in-progress": False}
        assert set(job["permissions"]) == {"contents", "pull-requests"}


# --- each check finds what it is for ---------------------------------------------------

BAD = """
name: bad
on:
  pull_request_target:
  workflow_run: {workflows: [x], types: [completed]}
permissions: write-all
jobs:
  post:
    runs-on: ubuntu-latest
    permissions: {pull-requests: write}
    steps:
      - uses: actions/checkout@v5
        with:
          ref: ${{ github.event.workflow_run.head_sha }}
          repository: someone/fork
      - uses: actions/download-artifact@main
        with: {path: ., run-id: "${{ github.event.workflow_run.id }}"}
      - run: echo "${{ github.event.pull_request.title }} ${{ github.head_ref }}"
        env: {TOKEN: "${{ secrets.DEPLOY_KEY }}"}
      - run: echo "${{ steps.x.outputs.exit }} ${{ matrix.shard }}"
      - uses: someone/action
      - run: git fetch origin pull/1/head && git checkout FETCH_HEAD
"""


def test_each_check_finds_a_planted_violation() -> None:
    wf = yaml.safe_load(BAD)
    assert checkout_problems(wf) == [
        "post: checkout with ref: ${{ github.event.workflow_run.head_sha }}",
        "post: checkout with repository: someone/fork",
        "post: actions/checkout@v5 given ${{ github.event.workflow_run.head_sha }}",
        "post: run given git fetch origin pull/1/head && git checkout FETCH_HEAD",
        "trigger pull_request_target",
    ]
    assert artifact_problems(wf) == [
        "post: downloads every artifact",
        "post: downloads into the checkout (.)",
    ]
    problems = permission_problems(wf)
    assert "workflow: permissions 'write-all' (default or all)" in problems
    assert "post: pull-requests: write" in problems and "uses secrets.DEPLOY_KEY" in problems
    assert {"trigger pull_request_target", "trigger workflow_run"} <= set(problems)
    injected = injection_problems(wf)
    assert len(injected) == 2 and "github.event.pull_request.title" in injected[0]
    assert "github.head_ref" in injected[1]
    assert pin_problems(wf) == [
        "post: actions/download-artifact@main is not pinned to a major version or a commit",
        "post: someone/action is not pinned to a major version or a commit",
    ]
    assert permission_problems(yaml.safe_load("on: push\njobs: {}\n")) == [
        "workflow: permissions None (default or all)"
    ]
