"""alm-comment.yml's `run:` steps, for real: which run's `alm-report` a trigger posts
(the triggering PR run, or for a review the newest PR run of the reviewed head commit that
still has its report, asked of a local server speaking GitHub's Actions REST API over
HTTP with curl and jq as on a runner), and a missing report failing loudly, posting nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.workflow_steps import StepRun, run_job, workflow

HEAD = "a" * 40
REPO = "octo/agents"


class Actions(ThreadingHTTPServer):
    """The two Actions endpoints the lookup reads: a workflow's runs by head SHA, and a
    run's artifacts by name. Requests without a token get 401."""

    def __init__(self, runs: list[dict[str, Any]], artifacts: dict[int, list[dict[str, Any]]]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.runs, self.artifacts, self.paths = runs, artifacts, list[str]()


class Handler(BaseHTTPRequestHandler):
    server: Actions

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.server.paths.append(self.path)
        prefix = f"/repos/{REPO}/actions/"
        if self.headers.get("Authorization") != "Bearer t0ken":
            return self.reply(401, {"message": "Bad credentials"})
        if url.path == prefix + "workflows/alm-pr.yml/runs":
            runs = [r for r in self.server.runs if r["head_sha"] == query["head_sha"][0]]
            return self.reply(200, {"total_count": len(runs), "workflow_runs": runs})
        parts = url.path.removeprefix(prefix).split("/")
        if parts[0] == "runs" and parts[2:] == ["artifacts"]:
            found = [
                a for a in self.server.artifacts.get(int(parts[1]), [])
                if a["name"] == query["name"][0]
            ]  # fmt: skip
            return self.reply(200, {"total_count": len(found), "artifacts": found})
        return self.reply(404, {"message": "Not Found"})

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def run(id_: int, created: str, sha: str = HEAD) -> dict[str, Any]:
    return {"id": id_, "head_sha": sha, "created_at": created, "name": "alm pull request"}


def report(expired: bool = False) -> list[dict[str, Any]]:
    return [{"name": "alm-report", "expired": expired}, {"name": "alm-eval-results"}]


@pytest.fixture
def actions() -> Iterator[Actions]:
    server = Actions(
        runs=[
            run(11, "2026-11-01T10:00:00Z"),  # an older push of the same head: has a report
            run(13, "2026-11-01T12:00:00Z"),  # the newest: its report expired
            run(12, "2026-11-01T11:00:00Z"),  # the newest with a report
            run(14, "2026-11-01T13:00:00Z", sha="b" * 40),  # another head
        ],
        artifacts={11: report(), 12: report(), 13: report(expired=True), 14: report()},
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def post_job(tmp_path: Path, trigger: str, api: str = "http://127.0.0.1:9") -> list[StepRun]:
    context = {
        "github.event_name": "workflow_run",
        "github.token": "t0ken",
        "github.api_url": api,
        "github.repository": REPO,
        "github.event.workflow_run.name": trigger,
        "github.event.workflow_run.id": "99",
        "github.event.workflow_run.head_sha": HEAD,
        "runner.temp": str(tmp_path / "runner-temp"),
    }
    job = workflow("alm-comment.yml")["jobs"]["post"]
    checkout = tmp_path / "checkout"
    checkout.mkdir(exist_ok=True)
    return run_job(job, checkout, context, file="alm-comment.yml")


def test_a_review_posts_the_newest_report_of_the_reviewed_head(
    actions: Actions, tmp_path: Path
) -> None:
    api = f"http://127.0.0.1:{actions.server_address[1]}"
    source, posted = post_job(tmp_path, "alm review", api)
    assert source.code == 0, source.output
    # the download of run 12 is GitHub's step; here nothing was downloaded, so the post
    # step says so and fails rather than posting
    assert posted.code == 1
    assert "::error::run 12 has no alm-report artifact" in posted.output
    assert "Nothing was posted" in posted.output
    asked = [urlparse(p).path.rsplit("/", 2)[-2] for p in actions.paths[1:]]
    assert asked == ["13", "12"]  # newest first, stops at the first live report


def test_a_review_before_any_report_posts_nothing_and_succeeds(
    actions: Actions, tmp_path: Path
) -> None:
    actions.runs = []
    api = f"http://127.0.0.1:{actions.server_address[1]}"
    steps = post_job(tmp_path, "alm review", api)
    assert [s.code for s in steps] == [0]  # the download and post steps are skipped
    assert "::notice::no alm-report for " + HEAD in steps[0].output


def test_a_pr_run_without_its_report_fails_loudly(tmp_path: Path) -> None:
    """The PR workflow stopped before its plan job: no artifact, nothing posted."""
    source, posted = post_job(tmp_path, "alm pull request")
    assert source.code == 0
    assert posted.code == 1
    assert "::error::run 99 has no alm-report artifact" in posted.output
    assert "stopped before its plan job" in posted.output
