"""`alm github deployed` on a push to main, against the local GitHub server."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from reconciler.cli.app import App
from reconciler.deploy import audit
from reconciler.github import deployed, sticky
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


# --- once deploys are applied: what went where, from the audit records -----------------

REV = {c: f"sha256:{c * 64}" for c in "abcd"}


def _steps() -> list[model.EnvironmentStep]:
    return [
        model.EnvironmentStep(environment=e, agents=["support-triage"], gates=[])
        for e in ("dev", "staging", "prod")
    ]


def test_applied_message_lists_what_went_where_with_audit_links() -> None:
    rows = [
        deployed.Applied("staging", "support-triage", REV["a"], REV["b"], "ok", 4, "update"),
        deployed.Applied("dev", "support-triage", None, REV["b"], "ok", 2, "create"),
        deployed.Applied("dev", "@acme/x|y", REV["c"], None, "failed", 3, "delete"),
    ]
    text = deployed.applied_message(
        MERGE, rows, _steps(), lambda env, line: f"https://runs/{env}#{line}"
    )
    assert text.startswith(deployed.MARKER + "\n### alm: what merging c4295bd74fb0 deployed")
    assert text.index("**dev**") < text.index("**staging**")  # promotion order
    assert (
        "| support\\-triage | create | `none` | `sha256:bbbbbbbbbbbb` | ok "
        "| [dev.jsonl line 2](https://runs/dev#2) |"
    ) in text
    assert "| `sha256:aaaaaaaaaaaa` | `sha256:bbbbbbbbbbbb` |" in text
    assert "@acme" not in text and "x\\|y" in text  # inert, and the table holds
    assert "Not applied yet, in promotion order: **prod** (1 agent(s))." in text
    assert "1 action(s) did not succeed" in text
    unlinked = deployed.applied_message(MERGE, rows[:1], _steps(), lambda env, line: None)
    assert "| staging.jsonl line 4 |" in unlinked and "did not succeed" not in unlinked


def test_applied_message_fits_githubs_limit() -> None:
    rows = [
        deployed.Applied("dev", f"agent-{i}", REV["a"], REV["b"], "ok", i, "update")
        for i in range(3000)
    ]
    text = deployed.applied_message(MERGE, rows, _steps(), lambda env, line: "https://r/1")
    assert sticky.utf16_length(text) <= sticky.LIMIT
    shown = text.count("| agent\\-")
    assert 0 < shown < 3000 and f"…and {3000 - shown} more" in text


def test_rows_from_audit_keep_each_agents_last_record_of_this_commit() -> None:
    records = [
        {"agent": "a", "commit": MERGE, "from": None, "to": REV["a"], "result": "started",
         "action": "create", "environment": "dev"},
        {"agent": "b", "commit": "0" * 40, "to": REV["b"], "result": "ok"},
        {"agent": "a", "commit": MERGE, "from": None, "to": REV["a"], "result": "ok",
         "action": "create", "environment": "dev"},
        {"agent": "c", "commit": MERGE, "from": REV["c"], "to": REV["d"], "result": "started"},
    ]  # fmt: skip
    rows = deployed.rows_from_audit(records, "dev", MERGE)
    assert [(r.agent, r.result, r.line, r.environment) for r in rows] == [
        ("a", "ok", 3, "dev"),
        ("c", "started", 4, "dev"),  # never finished: shown as it is
    ]


def test_the_deploy_comment_reads_the_audit_logs_of_the_push(
    server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _closed(server, merged=True)
    _setenv(server, tmp_path, monkeypatch, MERGE)
    plan = write_json(tmp_path / "plan.json", model.to_json(planfixtures.typical()))
    here, other = tmp_path / "audit", tmp_path / "downloaded"
    audit.record(audit.FileAuditStore(here / "staging.jsonl"), action="update",
                 agent="support-triage", environment="staging", from_=REV["a"], to=REV["b"],
                 commit="1" * 40, result="ok")  # fmt: skip
    audit.record(audit.FileAuditStore(here / "staging.jsonl"), action="update",
                 agent="support-triage", environment="staging", from_=REV["a"], to=REV["b"],
                 commit=MERGE, result="ok")  # fmt: skip
    audit.record(audit.FileAuditStore(other / "staging.jsonl"), action="update",
                 agent="ignored", environment="staging", commit=MERGE, result="ok")  # fmt: skip
    args = ("github", "deployed", "--report", str(plan), "--audit-dir", str(here))
    code, out, err = run(capsys, *args, "--audit-dir", str(other))
    assert code == 0, err
    [comment] = server.comments(REPO, 2)
    run_url = "https://github.com/Codertocat/Hello-World/actions/runs/42"
    assert f"[staging.jsonl line 2]({run_url})" in comment["body"]
    assert "ignored" not in comment["body"]  # staging's log was read from the first folder
    assert "what merging c4295bd74fb0 deployed" in comment["body"]

    code, out, _ = run(capsys, "github", "deployed", "--report", str(plan),
                       "--audit-dir", str(tmp_path / "none"))  # fmt: skip
    assert code == 0 and "deploy comment edited" in out  # no records: what would deploy
    assert "would deploy" in server.comments(REPO, 2)[0]["body"]
