"""Shared pieces of the tests of reconciler.github: a seeded local GitHub server, the
environment GitHub Actions would set, plan reports for its pull request, and one run of
`alm github pr` in-process with the product's own code (sleeps recorded, never slept)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.github import api as gh
from reconciler.github import context, pr
from reconciler.github.retry import RetryPolicy
from reconciler.plan import model, render_md
from reconciler.plan.model import PlanReport, PullRequest
from tests import github_shapes, planfixtures
from tests.github_server import GitHubServer, load_payload

TOKEN = "ghs_SECRETtok3n_never_shown_0123456789"
REPO = "Codertocat/Hello-World"
NUMBER = 2
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the fixture pull request's head
JSON = dict[str, Any]


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as live:
        live.add_payload(load_payload("pull_request.opened.json"))
        live.set_files(REPO, NUMBER, ["agents/support-triage/agent.yaml"])
        live.set_content(REPO, "master", ".github/CODEOWNERS", "/agents/ @acme/support-eng\n")
        yield live


def report_for(
    base: PlanReport | None = None, number: int = NUMBER, head: str = HEAD
) -> PlanReport:
    """The demo's typical plan (blocked by a regression, two approvals), as `alm plan`
    records it under the fixture pull request's pull_request event."""
    plan = base or planfixtures.typical()
    recorded = PullRequest(number=number, head_sha=head, repository=REPO, author="Codertocat")
    return plan.model_copy(update={"pull_request": recorded})


def write_json(path: Path, data: JSON | str) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def env_for(server: GitHubServer, tmp: Path, event_name: str, event: JSON) -> dict[str, str]:
    return {
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(write_json(tmp / f"{event_name}.json", event)),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": server.api_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "42",
    }


def pull_request_event() -> JSON:
    return load_payload("pull_request.synchronize.json")


def workflow_run_event(head: str = HEAD, repo: str = REPO, branch: str = "changes") -> JSON:
    """The `workflow_run` of a pull_request run on `head`, as GitHub sends it for a fork:
    an empty `pull_requests` list."""
    event = load_payload("workflow_run.completed.with-pull-requests.json")
    run = event["workflow_run"]
    run.update(event="pull_request", head_sha=head, head_branch=branch, pull_requests=[])
    run["head_repository"] = {**run["head_repository"], "full_name": repo}
    event["repository"] = {**event["repository"], "full_name": REPO}
    return event


@dataclass
class Ran:
    result: pr.Result
    sleeps: list[float] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


def run_pr(
    server: GitHubServer,
    tmp: Path,
    report: PlanReport,
    event_name: str = "pull_request",
    event: JSON | None = None,
    per_page: int = gh.PER_PAGE,
) -> Ran:
    """`alm github pr` through the product's code, as the CLI wires it, with the report
    read back from its JSON file (as untrusted data) and sleeps recorded."""
    env = env_for(server, tmp, event_name, event if event is not None else pull_request_event())
    ctx = context.from_env(env)
    sleeps: list[float] = []
    retry = RetryPolicy(sleep=sleeps.append)
    api = gh.Api(gh.connect(ctx, per_page=per_page), ctx.repository, retry)
    plan = model.read(write_json(tmp / "plan.json", model.to_json(report)))
    result = pr.run(ctx, api, plan, render_md.budgeted)
    return Ran(result, sleeps, [*retry.log, *result.log])


def comment_bodies(server: GitHubServer) -> list[str]:
    return [c["body"] for c in server.comments(REPO, NUMBER)]


def writes(server: GitHubServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method != "GET"]


def shapes_user(login: str, user_id: int = 7000) -> JSON:
    """A person as GitHub shows one inside another object (``merged_by``, ``user``)."""
    return github_shapes.user("https://api.github.com", login, user_id)
