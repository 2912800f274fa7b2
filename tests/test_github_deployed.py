"""`alm github deployed` on a push to main, against the local GitHub server."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from reconciler.cli.app import App
from reconciler.github import deployed
from reconciler.github.api import Pull
from reconciler.plan import model
from tests import planfixtures
from tests.cli import run, run_process
from tests.github_server import GitHubServer, load_payload
from tests.github_support import REPO, TOKEN, env_for, server, write_json
from tests.gitrepo import GitRepo

_ = server
MERGE = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"  # pull_request.closed.json's merge commit


def _push(after: str) -> dict[str, object]:
    event = load_payload("push.json")
    event.update(after=after, ref="refs/heads/master")
    return event


def _closed(server: GitHubServer, merged: bool) -> None:
    payload = copy.deepcopy(load_payload("pull_request.closed.json"))
    if merged:  # the fixture is closed unmerged; a merge sets these two
        payload["pull_request"].update(merged=True, merged_at="2019-05-15T15:20:40Z")
    server.add_payload(payload)


def _setenv(server: GitHubServer, tmp: Path, mp: pytest.MonkeyPatch, after: str) -> None:
    for name, value in env_for(server, tmp, "push", _push(after)).items():
        mp.setenv(name, value)


def test_closed_unmerged_pr_deploys_nothing(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _closed(server, merged=False)
    _setenv(server, tmp_path, monkeypatch, MERGE)
    code, out, _ = run(capsys, "github", "deployed")
    assert code == 0 and "closed without merging: nothing deploys" in out
    assert server.comments(REPO, 2) == []
    assert [r.path for r in server.requests] == [f"/repos/{REPO}/commits/{MERGE}/pulls"]


def test_no_pull_request_for_the_commit_says_so(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _setenv(server, tmp_path, monkeypatch, "d" * 40)
    code, out, _ = run(capsys, "github", "deployed")
    assert code == 0 and "no merged pull request has dddddddddddd" in out


def test_merged_pr_gets_one_deploy_comment_in_its_own_process(
    server: GitHubServer, tmp_path: Path
) -> None:
    _closed(server, merged=True)
    plan = write_json(tmp_path / "plan.json", model.to_json(planfixtures.typical()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(env_for(server, tmp_path, "push", _push(MERGE)))
    for attempt in ("created", "unchanged"):
        done = run_process(None, "-v", "github", "deployed", "--report", str(plan), env=env)
        assert done.returncode == 0, done.stderr
        assert f"PR #2: deploy comment {attempt}" in done.stdout
        assert TOKEN not in done.stdout + done.stderr
    [comment] = server.comments(REPO, 2)
    assert comment["body"].startswith(deployed.MARKER + "\n")
    assert "**staging**: support\\-triage" in comment["body"]
    assert comment["body"].index("staging") < comment["body"].index("prod")


def _pull(number: int, state: str, merged: bool, sha: str | None) -> Pull:
    return Pull(number, "h" * 40, REPO, "main", "b", "a", state, merged, sha)


def test_merged_pull_picks_the_pr_merged_as_this_commit() -> None:
    pulls = [_pull(1, "closed", False, "x" * 40), _pull(2, "closed", True, "y" * 40)]
    assert deployed.merged_pull(pulls, "y" * 40).pull == pulls[1]
    missed = deployed.merged_pull(pulls, "x" * 40)
    assert missed.pull is None and "#1 was closed without merging" in missed.why


def test_message_lists_environments_in_promotion_order() -> None:
    steps = [
        model.EnvironmentStep(environment="staging", agents=["a"], gates=["evals pass"]),
        model.EnvironmentStep(environment="canary", agents=[], gates=[]),
        model.EnvironmentStep(environment="prod", agents=["a", "b"], gates=["staging healthy"]),
    ]
    text = deployed.message("e" * 40, steps)
    assert "1. **staging**: a (gates: evals pass)" in text
    assert "2. **prod**: a, b (gates: staging healthy)" in text and "canary" not in text
    assert deployed.message("e" * 40, []).count("nothing to deploy") == 1


def test_without_a_report_the_changed_agents_come_from_the_repository(
    fleet_repo: GitRepo,
) -> None:
    before = fleet_repo.git("rev-parse", "HEAD").strip()
    fleet_repo.replace("agents/support-triage/agent.yaml", "seed: 7", "seed: 8")
    after = fleet_repo.commit("support-triage: a new seed")
    app = App(repo=fleet_repo.path)
    assert deployed.changed_agents(app.load(before), app.load(after)) == ["support-triage"]
    steps = deployed.steps_from_state(app.load(before), app.load(after))
    order = app.load(after).environment_order
    assert [s.environment for s in steps] == order
    assert all(s.agents in ([], ["support-triage"]) for s in steps)
    assert any(s.agents == ["support-triage"] for s in steps)
    assert len(deployed.changed_agents(None, app.load(after))) == 4  # no before: every agent
