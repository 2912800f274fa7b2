"""`alm github pr` API calls when nothing changed since the last push (target: at most 6).

The local GitHub REST API server (tests/github_server.py: real HTTP on 127.0.0.1, GitHub's
response shapes and pagination) is seeded with the fixture pull request and 45 comments
by people (the issue's scenario; alm lists 100 a page, so one page). `alm github pr --report
plan.json` runs in its own process, as the workflow runs it, once to post the sticky
comment, the status and the check run, then again with the same report: the second run
must write nothing and make at most 6 requests. Measured under both events that post: the
unprivileged `pull_request` and the privileged `workflow_run` (a fork's: an empty
`pull_requests` list, so the pull request is found from the artifact and checked).
Also reported, without a target: the same on a busy pull request of 150 comments (two
pages of comments to find the sticky one: one more call).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import PROJECT_ROOT, Config, Result
from reconciler.plan import model
from tests.github_server import GitHubServer, load_payload
from tests.github_support import (
    NUMBER,
    REPO,
    TOKEN,
    env_for,
    pull_request_event,
    report_for,
    workflow_run_event,
    write_json,
)

MAX_CALLS = 6
OTHER_COMMENTS = 45
BUSY_COMMENTS = 150
EVENTS = {"pull_request": pull_request_event, "workflow_run": workflow_run_event}


def _seeded(server: GitHubServer, comments: int) -> None:
    server.add_payload(load_payload("pull_request.opened.json"))
    server.set_files(REPO, NUMBER, ["agents/support-triage/agent.yaml"])
    server.set_content(REPO, "master", ".github/CODEOWNERS", "/agents/ @acme/support-eng\n")
    for i in range(comments):
        server.add_comment(REPO, NUMBER, f"a comment by a person {i}")


def _github_pr(env: dict[str, str], plan: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "github", "pr", "--report", str(plan)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    output = (done.stdout + done.stderr).strip().replace(TOKEN, "***")
    return done.returncode, time.perf_counter() - started, output


def _measure(event_name: str, folder: Path, comments: int = OTHER_COMMENTS) -> list[Result]:
    plan = write_json(folder / "plan.json", model.to_json(report_for()))
    with GitHubServer(token=TOKEN) as server:
        _seeded(server, comments)
        github = env_for(server, folder, event_name, EVENTS[event_name]())
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
        env.update(github)
        first_code, _, first_out = _github_pr(env, plan)
        before = len(server.requests)
        code, wall, out = _github_pr(env, plan)
        made = server.requests[before:]
    writes = [f"{r.method} {r.path}" for r in made if r.method != "GET"]
    calls = [f"{r.method} {r.path}{'?' + r.query if r.query else ''}" for r in made]
    ok = first_code == code == 0 and not writes and len(made) <= MAX_CALLS
    note = f"second run: {'; '.join(calls)}; writes: {writes or 'none'}"
    if first_code or code:
        note += f"; exit {first_code} then {code}: {(first_out + ' / ' + out)[-300:]}"
    if comments != OTHER_COMMENTS:  # the busy variant: informs, no target
        name = f"github_pr.unchanged.{comments}_comments.{event_name}.api_calls"
        return [Result(name, len(made), "calls", note=note)]
    name = f"github_pr.unchanged.{event_name}"
    return [
        Result(f"{name}.api_calls", len(made), "calls", f"<= {MAX_CALLS}", ok, note),
        Result(f"{name}.wall", wall, "s", note="the second run, in its own process"),
    ]


def run(config: Config) -> list[Result]:
    del config  # one fixed pull request
    results: list[Result] = []
    for event_name in EVENTS:
        with tempfile.TemporaryDirectory() as folder:
            results += _measure(event_name, Path(folder))
    with tempfile.TemporaryDirectory() as folder:
        results += _measure("pull_request", Path(folder), BUSY_COMMENTS)
    return results
