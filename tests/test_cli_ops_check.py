"""alm ops check from the command line: traces recorded through the OpenTelemetry SDK,
ingested with alm ops ingest, checked against the example fleet deployed to a directory
target in a real git repository; the rollback it performs is the deploy stage's (audited,
pinned)."""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.ops_check import gc_paused
from reconciler.ops.model import NS_PER_S
from reconciler.ops.tracegen import Recorder, TaskSpec, ToolStep
from tests.cli import run
from tests.github_server import GitHubServer
from tests.github_support import REPO, env_for, server
from tests.gitrepo import GitRepo, deploy_repo

_ = server  # the fixture: a local GitHub server (real HTTP, PyGithub)

AGENT = "support-triage"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"
ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: prod
    target: {type: directory, path: .alm/deployments/prod}
    gates: {previous_environment: false, evals_pass: false}
    on_breach: rollback
  - name: staging
    target: {type: directory, path: .alm/deployments/staging}
    gates: {previous_environment: false, evals_pass: false}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(
        tmp_path / "repo", ENVIRONMENTS, "a directory prod that rolls back on a breach", "Ops One"
    )


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def live(capsys: pytest.CaptureFixture[str], repo: GitRepo, env: str = "prod") -> dict[str, Any]:
    code, out, err = alm(capsys, repo, "status", "--env", env, "--format", "json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)["agents"]}


def deploy_twice(capsys: pytest.CaptureFixture[str], repo: GitRepo) -> tuple[str, str]:
    """Two revisions of support-triage deployed in turn; (first, live)."""
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    first = live(capsys, repo)[AGENT]["live"]
    repo.replace(AGENT_FILE, "temperature: 0,", "temperature: 0.2,")
    repo.commit("support-triage: warmer")
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    second = live(capsys, repo)[AGENT]["live"]
    assert first != second
    return first, second


def traces(path: Path, revision: str, tasks: int, failing: int, env: str = "prod") -> Path:
    """`tasks` support-triage tasks in the last hour, the first `failing` labelled failed
    by the business (alm.task.success false), through the real SDK."""
    recorder = Recorder(env)
    step = ToolStep("ticketing.get_ticket", arguments={"ticket_id": "TCK-1000"})
    start = time.time_ns() - 3600 * NS_PER_S
    for i in range(tasks):
        recorder.record(
            TaskSpec(
                agent=AGENT,
                revision=revision,
                start_ns=start + i * 30 * NS_PER_S,
                tools=(step,),
                output_text="Routed to billing.",
                success=False if i < failing else None,
            )
        )
    return recorder.write(path)


def ingest(capsys: pytest.CaptureFixture[str], repo: GitRepo, trace_file: Path) -> Path:
    db = repo.path.parent / "traces.db"
    code, out, err = alm(capsys, repo, "ops", "ingest", str(trace_file), "--db", str(db))
    assert code == 0, err + out
    return db


def test_a_breach_exits_3_and_rolls_the_agent_back_audited(capsys, repo, tmp_path) -> None:
    first, second = deploy_twice(capsys, repo)
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", second, tasks=60, failing=20))
    code, out, err = alm(capsys, repo, "ops", "check", "--env", "prod", "--db", str(db))
    assert code == 3, err + out
    assert f"BREACH {AGENT} {second[:19]}: 60 tasks" in out
    assert "task_success_rate 0.6667" in out and "< min 0.9, n=60" in out
    assert f"rolled back in prod from {second[:19]} to {first[:19]} and pinned" in out
    row = live(capsys, repo)[AGENT]
    assert row["live"] == first and row["sync"] == "Pinned"
    log = (repo.path / ".alm" / "audit" / "prod.jsonl").read_text().splitlines()
    rollback = [json.loads(line) for line in log if '"rollback"' in line]
    assert [r["result"] for r in rollback] == ["started", "ok"]
    assert rollback[-1]["from"] == second and rollback[-1]["to"] == first
    assert alm(capsys, repo, "audit", "verify", "--env", "prod")[0] == 0


def test_dry_run_reports_the_breach_and_rolls_nothing_back(capsys, repo, tmp_path) -> None:
    _, second = deploy_twice(capsys, repo)
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", second, tasks=60, failing=20))
    args = ("ops", "check", "--env", "prod", "--db", str(db), "--dry-run", "--open-issues")
    code, out, err = alm(capsys, repo, *args)
    assert code == 3, err + out
    assert "not rolled back (--dry-run)" in out
    assert f"<!-- alm:breach env=prod agent={AGENT} -->" in out  # the body it would write
    assert live(capsys, repo)[AGENT]["live"] == second
    audit = (repo.path / ".alm" / "audit" / "prod.jsonl").read_text()
    assert '"rollback"' not in audit


def test_json_output_of_a_breach(capsys, repo, tmp_path) -> None:
    _, second = deploy_twice(capsys, repo)
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", second, tasks=60, failing=20))
    args = ("ops", "check", "--env", "prod", "--db", str(db), "--dry-run", "--format", "json")
    code, out, _ = alm(capsys, repo, *args)
    assert code == 3
    data = json.loads(out)
    assert data["schema"] == 1 and data["status"] == "breach" and data["min_samples"] == 30
    agents = {(a["agent"], a["revision"]): a for a in data["agents"]}
    mine = agents[(AGENT, second)]
    assert mine["live"] and mine["tasks"] == 60 and mine["status"] == "breach"
    [breach] = mine["breaches"]
    assert breach["metric"] == "task_success_rate" and breach["samples"] == 60
    assert len(breach["example_traces"]) == 5 and breach["high"] < 0.9
    assert {a["status"] for k, a in agents.items() if k[0] != AGENT} == {"insufficient"}


def test_too_few_tasks_is_not_a_breach(capsys, repo, tmp_path) -> None:
    _, second = deploy_twice(capsys, repo)
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", second, tasks=12, failing=4))
    code, out, err = alm(capsys, repo, "ops", "check", "--env", "prod", "--db", str(db))
    assert code == 0, err + out
    assert f"{AGENT} {second[:19]}: 12 tasks (fewer than 30: not judged)" in out
    assert live(capsys, repo)[AGENT]["live"] == second
    code, out, _ = alm(
        capsys, repo, "ops", "check", "--env", "prod", "--db", str(db), "--min-samples", "10",
        "--dry-run",
    )  # fmt: skip
    assert code == 3 and "BREACH" in out


def test_a_healthy_window_exits_0(capsys, repo, tmp_path) -> None:
    _, second = deploy_twice(capsys, repo)
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", second, tasks=60, failing=0))
    code, out, err = alm(capsys, repo, "ops", "check", "--env", "prod", "--db", str(db))
    assert code == 0, err + out
    assert f"ok     {AGENT} {second[:19]}: 60 tasks; success 1.00" in out
    assert "result: ok" in out


def test_a_baseline_file_is_compared_and_a_bad_one_is_refused(capsys, repo, tmp_path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    code, _, err = alm(capsys, repo, "ops", "check", "--env", "prod", "--baseline", str(bad))
    assert code == 1 and "results.json" in err
    code, _, err = alm(capsys, repo, "ops", "check", "--env", "nowhere")
    assert code == 2 and "unknown environment" in err


def test_a_drop_below_the_eval_baseline_is_a_breach(capsys, repo, tmp_path) -> None:
    results = tmp_path / "results.json"
    code, _, err = alm(capsys, repo, "eval", "--agent", AGENT, "--out", str(results))
    assert code == 0, err  # every case of the example suite passes: a baseline of 1.0
    _, second = deploy_twice(capsys, repo)
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", second, tasks=60, failing=20))
    args = ("ops", "check", "--env", "prod", "--db", str(db), "--dry-run", "--format", "json")
    code, out, err = alm(capsys, repo, *args, "--baseline", str(results))
    assert code == 3, err
    mine = next(a for a in json.loads(out)["agents"] if a["agent"] == AGENT and a["live"])
    drop = next(b for b in mine["breaches"] if b["against"] == "baseline")
    assert drop["metric"] == "task_success_rate" and drop["threshold"] == 1.0
    assert drop["samples"] == 60 and len(drop["example_traces"]) == 5
    checks = [c for c in mine["checks"] if c["against"] == "baseline"]
    assert {c["metric"] for c in checks} >= {"task_success_rate", "policy_compliance"}
    success = next(c for c in checks if c["metric"] == "task_success_rate")
    assert success["status"] == "breach" and success["p_value"] < 0.05
    unlabelled = next(c for c in checks if c["metric"] == "escalation_precision")
    assert unlabelled["status"] == "not_measured"  # no alm.escalation.expected labels sent


def test_open_issues_opens_the_breach_issue_then_closes_it(
    capsys, repo, tmp_path, server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert alm(capsys, repo, "apply", "--env", "staging")[0] == 0
    revision = live(capsys, repo, "staging")[AGENT]["live"]
    for name, value in env_for(server, tmp_path, "schedule", {}).items():
        monkeypatch.setenv(name, value)
    bad = tmp_path / "bad.jsonl"
    db = ingest(capsys, repo, traces(bad, revision, tasks=60, failing=20, env="staging"))
    args = ("ops", "check", "--env", "staging", "--db", str(db), "--open-issues")
    code, out, err = alm(capsys, repo, *args)
    assert code == 3, err + out
    [issue] = server.issues(REPO)
    assert issue["state"] == "open" and f"agent={AGENT} -->" in issue["body"]
    body = issue["body"].replace("\\_", "_")  # markdown-escaped underscores
    assert "| task_success_rate | min 0.9 |" in body and "rolled back" not in out
    assert live(capsys, repo, "staging")[AGENT]["live"] == revision  # on_breach: issue
    healthy = repo.path.parent / "healthy.db"
    good = traces(tmp_path / "good.jsonl", revision, tasks=60, failing=0, env="staging")
    code, out, err = alm(capsys, repo, "ops", "ingest", str(good), "--db", str(healthy))
    assert code == 0, err
    code, out, err = alm(capsys, repo, "ops", "check", "--env", "staging", "--db", str(healthy),
                         "--open-issues")  # fmt: skip
    assert code == 0, err + out
    assert [i["state"] for i in server.issues(REPO)] == ["closed"]


def test_the_cyclic_gc_is_paused_for_the_check_and_restored_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a failing check")
    assert gc.isenabled()
    gc.disable()  # a caller that had it off keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_entry_that_is_not_a_bundle_is_named_and_the_check_goes_on(
    capsys, repo, tmp_path
) -> None:
    """apply, status and drift take a foreign or broken target entry for drift; the
    production check (and simulate) read the same target and must not stop on it."""
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    revision = live(capsys, repo)[AGENT]["live"]
    folder = repo.path / ".alm" / "deployments" / "prod"
    (folder / "ghost.json").write_text("{}")
    (folder / "email-drafting.json").write_text('{"apiVersion": "alm/v1", "kind": "AgentB')
    db = ingest(capsys, repo, traces(tmp_path / "t.jsonl", revision, tasks=60, failing=0))
    code, out, err = alm(capsys, repo, "ops", "check", "--env", "prod", "--db", str(db))
    assert code == 0, err + out
    assert f"ok     {AGENT} {revision[:19]}: 60 tasks" in out
    assert (
        "email-drafting.json: " in out
        and "email-drafting's live revision in prod is unknown" in out
    )
    assert "ghost's live revision in prod is unknown" in out
    sim = tmp_path / "day.jsonl"
    code, out, err = alm(
        capsys, repo, "ops", "simulate", "--env", "prod", "--out", str(sim), "--hours", "1"
    )
    assert code == 0, err + out
    assert "ghost's live revision in prod is unknown" in out + err
