"""The scheduled workflow alm-ops.yml: hourly and by hand, on the default branch only, one
job per environment with least privilege and the registry token only as an Environment
secret; and its run steps for real: traces found and ingested, a breach opening its issue
on the local GitHub server (the job fails: exit 3), drift checked after it, and no trace
source configured said on the run, never passed silently."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.ops.model import NS_PER_S
from reconciler.ops.tracegen import Recorder, TaskSpec, ToolStep
from tests.cli import run
from tests.github_server import GitHubServer
from tests.github_support import REPO, TOKEN, server
from tests.gitrepo import PROJECT, GitRepo
from tests.test_workflow_evals import link_venv
from tests.test_workflows_security import steps, triggers
from tests.workflow_steps import StepRun, evaluate, run_job, workflow

_ = server
WF = "alm-ops.yml"
AGENT = "support-triage"
DIRECTORY_DEV = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: .alm/deployments/dev}
    gates: {previous_environment: false, evals_pass: false}
"""


def job() -> dict[str, Any]:
    return dict(workflow(WF)["jobs"]["check"])


def test_hourly_and_by_hand_one_job_per_environment() -> None:
    wf = workflow(WF)
    on = triggers(wf)
    assert set(on) == {"schedule", "workflow_dispatch"}
    [cron] = on["schedule"]
    minute, *rest = cron["cron"].split()
    assert minute.isdigit() and rest == ["*", "*", "*", "*"]
    text = (PROJECT / "policies" / "environments.yaml").read_text(encoding="utf-8")
    order = [e["name"] for e in yaml.safe_load(text)["environments"]]
    assert job()["strategy"]["matrix"]["env"] == order
    assert job()["strategy"]["fail-fast"] is False  # a breach in one never hides another
    assert job()["concurrency"] == {
        "group": "alm-ops-${{ matrix.env }}",
        "cancel-in-progress": False,
    }
    assert job()["environment"] == "alm-ops-${{ matrix.env }}"


@pytest.mark.parametrize(
    ("event", "ref", "runs"),
    [("schedule", "main", True), ("workflow_dispatch", "main", True),
     ("workflow_dispatch", "feature", False)],
)  # fmt: skip
def test_it_runs_on_the_default_branch_only(event: str, ref: str, runs: bool) -> None:
    context = {"github.event_name": event, "github.ref_name": ref,
               "github.event.repository.default_branch": "main"}  # fmt: skip
    assert bool(evaluate(job()["if"], context)) is runs
    checkout = next(s for _, s in steps(workflow(WF)) if "checkout" in str(s.get("uses")))
    assert "ref" not in checkout["with"] and "repository" not in checkout["with"]


def test_least_privilege_and_secrets_where_used() -> None:
    wf = workflow(WF)
    assert wf["permissions"] == {}
    assert job()["permissions"] == {"contents": "write", "issues": "write", "actions": "read"}
    secrets = {
        step.get("name", ""): sorted(k for k, v in step.get("env", {}).items() if "secrets." in v)
        for _, step in steps(wf)
    }
    assert secrets["Find the traces"] == []  # repository data only: no secret near it
    assert secrets["Check production traces against the contracts"] == [
        "ALM_CLICKHOUSE_PASSWORD",
        "ALM_REGISTRY_TOKEN",
    ]
    assert secrets["Compare the deployments with the repository"] == ["ALM_REGISTRY_TOKEN"]


# --- the job's steps, run ----------------------------------------------------------------


def repo_with_dev(capsys: pytest.CaptureFixture[str], fleet_repo: GitRepo) -> str:
    """The fleet deployed to a directory dev; support-triage's live revision."""
    link_venv(fleet_repo)
    fleet_repo.write("policies/environments.yaml", DIRECTORY_DEV)
    fleet_repo.write(".gitignore", ".alm/\n.venv\n.github-*\n")
    fleet_repo.commit("a directory dev")
    code, _, err = run(capsys, "-C", str(fleet_repo.path), "apply", "--env", "dev")
    assert code == 0, err
    code, out, err = run(capsys, "-C", str(fleet_repo.path), "status", "--env", "dev",
                         "--format", "json")  # fmt: skip
    assert code == 0, err
    return str({r["name"]: r["live"] for r in json.loads(out)["agents"]}[AGENT])


def failing_traces(folder: Path, revision: str) -> Path:
    """40 support-triage tasks in dev in the last hour, half labelled failed (SDK-made)."""
    recorder = Recorder("dev")
    start = time.time_ns() - 3600 * NS_PER_S
    for i in range(40):
        recorder.record(
            TaskSpec(agent=AGENT, revision=revision, start_ns=start + i * 60 * NS_PER_S,
                     tools=(ToolStep("ticketing.get_ticket"),), success=False if i % 2 else None)
        )  # fmt: skip
    folder.mkdir()
    recorder.write(folder / "otel-export.jsonl")
    return folder


def run_check(
    repo: GitRepo, tmp: Path, monkeypatch: pytest.MonkeyPatch, gh: GitHubServer, traces: str
) -> list[StepRun]:
    for name, value in {"GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": gh.api_url,
                        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "7",
                        "RUNNER_TEMP": str(tmp)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    context = {"github.event_name": "schedule", "github.token": TOKEN, "matrix.env": "dev",
               "inputs.traces": "", "vars.ALM_TRACES": traces, "github.ref_name": "main",
               "secrets.ALM_CLICKHOUSE_PASSWORD": "", "secrets.ALM_REGISTRY_TOKEN": ""}  # fmt: skip
    done = run_job(job(), repo.path, context, file=WF)
    assert TOKEN not in "".join(r.output for r in done)
    return done


def test_a_breach_opens_its_issue_and_fails_the_job(
    capsys: pytest.CaptureFixture[str],
    server: GitHubServer,
    fleet_repo: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    revision = repo_with_dev(capsys, fleet_repo)
    folder = failing_traces(tmp_path / "bucket", revision)
    done = run_check(fleet_repo, tmp_path, monkeypatch, server, f"path:{folder}")
    assert [r.code for r in done] == [0, 3, 0], "\n".join(r.output for r in done)
    assert "BREACH support-triage" in done[1].output
    [issue] = server.issues(REPO)
    assert issue["body"].startswith(f"<!-- alm:breach env=dev agent={AGENT} -->\n")
    assert [label["name"] for label in issue["labels"]] == ["alm:breach"]
    assert f"https://github.com/{REPO}/actions/runs/7" in issue["body"]
    assert "no drift in dev" in done[2].output and "dev: no drift, no issue open" in done[2].output


def test_no_trace_source_is_said_on_the_run_and_drift_still_runs(
    capsys: pytest.CaptureFixture[str],
    server: GitHubServer,
    fleet_repo: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo_with_dev(capsys, fleet_repo)
    done = run_check(fleet_repo, tmp_path, monkeypatch, server, "")
    assert [r.name for r in done] == [
        "Find the traces",
        "Compare the deployments with the repository",
    ]
    assert [r.code for r in done] == [0, 0]
    assert "::warning title=alm ops check skipped::no trace source is configured" in done[0].output
    summary = (fleet_repo.path / ".github-step-summary").read_text(encoding="utf-8")
    assert "alm ops check skipped" in summary and server.issues(REPO) == []


def test_a_wrong_trace_source_fails_and_drift_still_runs(
    capsys: pytest.CaptureFixture[str],
    server: GitHubServer,
    fleet_repo: GitRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo_with_dev(capsys, fleet_repo)
    empty = tmp_path / "empty"
    empty.mkdir()
    for traces, said in [("ftp://host/x", "ALM_TRACES: expected clickhouse://"),
                         (f"path:{empty}", "no trace files")]:  # fmt: skip
        done = run_check(fleet_repo, tmp_path, monkeypatch, server, traces)
        assert [r.code for r in done] == [1, 0] and f"::error::{said}" in done[0].output
