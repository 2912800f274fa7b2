"""alm ops promote-canary from the command line: two revisions of support-triage (a canary
rollout) deployed in turn to a directory target in a real git repository, traces of both
recorded through the OpenTelemetry SDK and ingested; the verdict promotes (recorded in the
live bundle outside its hash, audited), holds (changes nothing) or rolls back (the deploy
stage's rollback: pinned, audited, exit 3)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.deploy.model import Bundle
from reconciler.ops.model import NS_PER_S
from reconciler.ops.tracegen import Recorder, TaskSpec, ToolStep
from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo

AGENT = "support-triage"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"
HOURS = 12
ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: staging
    target: {type: directory, path: .alm/deployments/staging}
    gates: {previous_environment: false, evals_pass: false}
  - name: prod
    target: {type: directory, path: .alm/deployments/prod}
    gates: {previous_environment: false, evals_pass: false}
    operate: {canary_min_samples: 50}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(tmp_path / "repo", ENVIRONMENTS, "directory targets", "Ops One")


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def live(repo: GitRepo) -> Bundle:
    path = repo.path / ".alm" / "deployments" / "prod" / f"{AGENT}.json"
    return Bundle.model_validate_json(path.read_text())


def audit(repo: GitRepo, action: str) -> list[dict[str, Any]]:
    lines = (repo.path / ".alm" / "audit" / "prod.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["action"] == action]


def deploy_twice(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> tuple[str, str]:
    """(stable, canary): two revisions of support-triage deployed in turn."""
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    stable = live(repo).revision
    repo.replace(AGENT_FILE, "temperature: 0,", "temperature: 0.2,")
    repo.commit("support-triage: warmer")
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    canary = live(repo).revision
    assert stable != canary and live(repo).content["rollout"]["strategy"] == "canary"
    return stable, canary


def traffic(
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
    revisions: dict[str, tuple[int, int]],
) -> Path:
    """For each revision (tasks an hour, failing ones among them), tasks in each of the
    last HOURS hours, recorded through the SDK and ingested; the store's path."""
    recorder = Recorder("prod")
    start = time.time_ns() - HOURS * 3600 * NS_PER_S + 60 * NS_PER_S
    for hour in range(HOURS):
        for revision, (per_hour, failing) in revisions.items():
            for i in range(per_hour):
                at = start + hour * 3600 * NS_PER_S + i * 60 * NS_PER_S
                recorder.record(
                    TaskSpec(
                        agent=AGENT,
                        revision=revision,
                        start_ns=at,
                        tools=(ToolStep("ticketing.get_ticket", arguments={"ticket_id": "T-1"}),),
                        output_text="Routed to billing.",
                        success=False if i < failing else None,
                    )
                )
    db = repo.path.parent / "traces.db"
    trace_file = recorder.write(repo.path.parent / "traces.jsonl")
    code, out, err = alm(capsys, repo, "ops", "ingest", str(trace_file), "--db", str(db))
    assert code == 0, err + out
    return db


def canary_cmd(db: Path, *more: str) -> tuple[str, ...]:
    return ("ops", "promote-canary", AGENT, "--env", "prod", "--db", str(db), "--hours",
            str(HOURS), *more)  # fmt: skip


def test_a_good_canary_is_promoted_audited_and_once(capsys, repo) -> None:
    stable, canary = deploy_twice(capsys, repo)
    db = traffic(capsys, repo, {canary: (6, 0), stable: (10, 0)})
    code, out, err = alm(capsys, repo, *canary_cmd(db))
    assert code == 0, err + out
    assert f"canary {canary[:19]} (10% of traffic) vs stable {stable[:19]}" in out
    assert "verdict: promote: the canary is not worse beyond the tolerance" in out
    assert "(canary, 72 tasks)" in out and "over 12 paired hours" in out
    assert "promoted to 100% of traffic" in out
    bundle = live(repo)
    assert bundle.revision == canary and bundle.intact  # outside the hash
    assert bundle.promotion is not None and bundle.promotion.traffic_percent == 100
    assert bundle.promotion.by.startswith("Ops One") and bundle.pin is None
    assert [r["result"] for r in audit(repo, "promote-canary")] == ["started", "ok"]
    assert alm(capsys, repo, "audit", "verify", "--env", "prod")[0] == 0
    code, out, _ = alm(capsys, repo, *canary_cmd(db))
    assert code == 0 and "already promoted by Ops One" in out and "nothing to do" in out
    assert len(audit(repo, "promote-canary")) == 2
    code, out, _ = alm(capsys, repo, "status", "--env", "prod", "--format", "json")
    assert {r["name"]: r["sync"] for r in json.loads(out)["agents"]}[AGENT] == "Synced"
    # the promotion is not drift, and an apply with nothing to do keeps it
    assert alm(capsys, repo, "drift", "--env", "prod")[0] == 0
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    assert live(repo).promotion == bundle.promotion


def test_a_worse_canary_is_rolled_back_pinned_and_exits_3(capsys, repo) -> None:
    stable, canary = deploy_twice(capsys, repo)
    db = traffic(capsys, repo, {canary: (6, 3), stable: (10, 0)})
    code, out, err = alm(capsys, repo, *canary_cmd(db))
    assert code == 3, err + out
    assert "verdict: rollback: the canary is worse: success 50.0% (canary, 72 tasks)" in out
    assert "p = 0.000244" in out  # 12 paired hours, all worse: 1 / 2^12
    assert f"rolled back from {canary[:19]} to {stable[:19]} and pinned" in out
    bundle = live(repo)
    assert bundle.revision == stable and bundle.pin is not None
    rolled = audit(repo, "rollback")
    assert [r["result"] for r in rolled] == ["started", "ok"] and rolled[-1]["from"] == canary
    code, out, _ = alm(capsys, repo, *canary_cmd(db))
    assert code == 0 and f"pinned to {stable[:19]} by a rollback: nothing to do" in out


def test_dry_run_and_hold_change_nothing(capsys, repo) -> None:
    stable, canary = deploy_twice(capsys, repo)
    db = traffic(capsys, repo, {canary: (6, 3), stable: (10, 0)})
    before = (repo.path / ".alm" / "audit" / "prod.jsonl").read_text()
    code, out, _ = alm(capsys, repo, *canary_cmd(db, "--dry-run"))
    assert code == 3 and "verdict: rollback" in out and "dry run: nothing changed" in out
    code, out, _ = alm(capsys, repo, "ops", "promote-canary", AGENT, "--env", "prod", "--db",
                       str(db), "--since", "30m")  # fmt: skip
    assert code == 0 and "held: nothing changed" in out
    assert "verdict: hold: no hour of the window had tasks of both revisions" in out
    assert live(repo).revision == canary and live(repo).promotion is None
    assert (repo.path / ".alm" / "audit" / "prod.jsonl").read_text() == before


def test_too_few_canary_tasks_hold(capsys, repo) -> None:
    stable, canary = deploy_twice(capsys, repo)
    db = traffic(capsys, repo, {canary: (6, 0), stable: (10, 0)})
    code, out, _ = alm(capsys, repo, *canary_cmd(db, "--min-samples", "100", "--format", "json"))
    assert code == 0
    data = json.loads(out)
    assert data["decision"] == "hold" and data["done"] == "held: nothing changed"
    assert data["reason"].startswith("72 canary task(s), 100 needed before a promotion")
    assert (data["canary"], data["stable"], data["canary_percent"]) == (canary, stable, 10)
    assert (data["canary_tasks"], data["stable_tasks"], data["paired_intervals"]) == (72, 120, 12)
    assert len(data["buckets"]) == HOURS and data["violations"] == []
    assert live(repo).promotion is None


def test_one_must_never_violation_by_the_canary_rolls_it_back(capsys, repo) -> None:
    stable, canary = deploy_twice(capsys, repo)
    db = traffic(capsys, repo, {canary: (6, 0), stable: (10, 0)})
    recorder = Recorder("prod")
    refund = ToolStep("billing.issue_refund", arguments={"ticket_id": "T-1", "amount": 5})
    at = time.time_ns() - 600 * NS_PER_S
    trace = recorder.record(TaskSpec(agent=AGENT, revision=canary, start_ns=at, tools=(refund,)))
    trace_file = recorder.write(repo.path.parent / "refund.jsonl")
    assert alm(capsys, repo, "ops", "ingest", str(trace_file), "--db", str(db))[0] == 0
    code, out, _ = alm(capsys, repo, *canary_cmd(db, "--dry-run"))
    assert code == 3
    said = f"the canary broke a must-never rule in 1 task(s) (e.g. trace {trace})"
    assert f"verdict: rollback: {said}" in out


def test_what_is_not_a_canary_is_an_error(capsys, repo) -> None:
    assert alm(capsys, repo, "apply", "--env", "staging")[0] == 0
    args = ("ops", "promote-canary", "sales-research", "--env", "staging", "--db", "x.db")
    code, _, err = alm(capsys, repo, *args)
    assert code == 1 and "is not rolled out as a canary" in err
    code, _, err = alm(capsys, repo, "ops", "promote-canary", AGENT, "--env", "prod")
    assert code == 1 and "support-triage is not deployed in prod" in err
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    code, _, err = alm(capsys, repo, "ops", "promote-canary", AGENT, "--env", "prod")
    assert code == 1 and "no revision before the canary" in err
