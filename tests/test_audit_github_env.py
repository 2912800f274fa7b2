"""`alm github ...` with the environment and payloads a real runner can hand it: a bad
GITHUB_API_URL, an API that cannot be reached, a push that deleted the branch or was
forced, a fleet too large for one comment; clear messages and DESIGN.md's exit codes."""

from __future__ import annotations

import copy
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from reconciler.errors import UsageError
from reconciler.github import api as gh
from reconciler.github import context, deployed, sticky
from reconciler.github.retry import RetryPolicy, describe
from reconciler.plan import model
from reconciler.plan.model import EnvironmentStep
from tests.cli import run
from tests.github_server import GitHubServer, load_payload
from tests.github_support import (
    REPO,
    TOKEN,
    env_for,
    pull_request_event,
    report_for,
    server,
    write_json,
)
from tests.gitrepo import GitRepo

_ = server


def _setenv(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        mp.setenv(name, value)


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://127.0.0.1:1", "http://", "127.0.0.1:5", "http://h:port"]
)
def test_a_bad_api_url_is_a_usage_error_naming_it(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], url: str,
) -> None:  # fmt: skip
    _setenv(monkeypatch, env_for(server, tmp_path, "pull_request", pull_request_event()))
    monkeypatch.setenv("GITHUB_API_URL", url)
    plan = write_json(tmp_path / "plan.json", model.to_json(report_for()))
    code, _, err = run(capsys, "github", "pr", "--report", str(plan))
    assert code == 2 and "GITHUB_API_URL is not an http(s) URL" in err, err
    assert "unexpected" not in err and server.requests == []


def test_an_api_url_with_a_password_is_refused_without_echoing_it() -> None:
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO}
    with pytest.raises(UsageError, match="no user or password") as err:
        context.from_env({**env, "GITHUB_API_URL": "https://bot:hunter2@ghe.example/api/v3"})
    assert "hunter2" not in str(err.value)
    with pytest.raises(UsageError, match="GITHUB_SERVER_URL is not"):
        context.from_env({**env, "GITHUB_SERVER_URL": "javascript:alert(1)"})
    ok = context.from_env({**env, "GITHUB_API_URL": "https://ghe.example/api/v3/"})
    assert ok.api_url == "https://ghe.example/api/v3"


def test_an_unreachable_api_names_the_server_it_tried() -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO}
    ctx = context.from_env({**env, "GITHUB_API_URL": f"http://127.0.0.1:{port}"})
    sleeps: list[float] = []
    api = gh.Api(gh.connect(ctx), REPO, RetryPolicy(attempts=2, sleep=sleeps.append))
    with pytest.raises(requests.ConnectionError) as err:
        api.pull(2)
    said = describe(err.value)
    assert said.startswith("ConnectionError (cannot connect to ")
    assert f"http://127.0.0.1:{port}" in said and "/repos/" not in said
    assert sleeps and f"127.0.0.1:{port}" in api.retry.log[0]


MERGE = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"


def _push(server: GitHubServer, tmp: Path, mp: pytest.MonkeyPatch, **fields: str) -> None:
    event = load_payload("push.json")
    event.update(ref="refs/heads/master", **fields)
    _setenv(mp, env_for(server, tmp, "push", event))


@pytest.mark.parametrize("after", ["z" * 40, "ABC", "0" * 40])
def test_a_push_without_a_usable_commit_asks_nothing_of_the_api(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], after: str,
) -> None:  # fmt: skip
    _push(server, tmp_path, monkeypatch, after=after)
    code, out, err = run(capsys, "github", "deployed")
    if after == "0" * 40:  # GitHub's `after` for a push that deleted the branch
        assert code == 0 and "deleted the branch: nothing deploys" in out
    else:
        assert code == 1 and "names no pushed commit (after: 40 hex digits)" in err
    assert server.requests == []


def test_a_force_push_whose_before_is_not_in_the_clone_still_comments(
    server: GitHubServer, fleet_repo: GitRepo, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    fleet_repo.replace("agents/support-triage/agent.yaml", "seed: 7", "seed: 8")
    after = fleet_repo.commit("support-triage: a new seed")
    payload = copy.deepcopy(load_payload("pull_request.closed.json"))
    payload["pull_request"].update(merged=True, merged_at="2026-01-02T00:00:00Z")
    payload["pull_request"]["merge_commit_sha"] = after
    server.add_payload(payload)
    _push(server, tmp_path, monkeypatch, after=after, before="1" * 40)  # force-pushed away
    code, _, err = run(capsys, "-C", str(fleet_repo.path), "github", "deployed")
    assert code == 0, err
    assert "before commit 111111111111 is not in this clone" in err
    [comment] = server.comments(REPO, 2)
    assert "support\\-triage" in comment["body"] and "email\\-drafting" not in comment["body"]


def test_what_a_large_fleet_would_deploy_fits_one_comment_and_counts_the_rest() -> None:
    names = [f"customer-support-agent-{i:04d}" for i in range(1000)]
    steps = [
        EnvironmentStep(environment=env, agents=names, gates=["evals pass"])
        for env in ("dev", "staging", "prod")
    ]
    text = deployed.message("a" * 40, steps)
    assert sticky.utf16_length(text) <= sticky.LIMIT
    assert text.startswith(deployed.MARKER + "\n")
    shown = text.count("customer\\-support\\-agent\\-")
    assert 0 < shown < 3000
    more = 3000 - shown
    assert sum(int(n) for n in re.findall(r"…and (\d+) more agent\(s\)", text)) == more


class _WebPage(BaseHTTPRequestHandler):
    """What github.com (not its API) or a login proxy answers: a page, with 200."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body>Sign in</body></html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("command", ["pr", "deployed"])
def test_a_web_page_instead_of_the_api_is_explained_not_a_crash(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], command: str,
) -> None:  # fmt: skip
    page = ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    threading.Thread(target=page.serve_forever, kwargs={"poll_interval": 0.02}).start()
    try:
        if command == "pr":
            _setenv(monkeypatch, env_for(server, tmp_path, "pull_request", pull_request_event()))
            plan = write_json(tmp_path / "plan.json", model.to_json(report_for()))
            args = ["--report", str(plan)]
        else:
            _push(server, tmp_path, monkeypatch, after=MERGE)
            args = []
        monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{page.server_address[1]}")
        code, _, err = run(capsys, "github", command, *args)
    finally:
        page.shutdown()
        page.server_close()
    assert code == 1 and "is GITHUB_API_URL the REST API" in err, err
    assert "unexpected" not in err
