"""alm apply, status, rollback, unpin, drift and audit from the command line, against real
git repositories and the directory target (tests/test_cli_deploy_crash.py: kill -9 and
concurrent applies in real processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo

# evals_pass: false: these tests change the model's temperature, which the shipped
# cassettes do not cover; the evals gate is tests/test_cli_deploy_gates.py's
ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: .alm/deployments/dev}
    gates: {previous_environment: false, evals_pass: false}
    drift: {ignore: [content.model.params.max_tokens]}
  - name: staging
    target: {type: directory, path: .alm/deployments/staging}
    gates: {previous_environment: true, evals_pass: false}
    drift: {mode: warn}
  - name: prod
    target: {type: directory, path: .alm/deployments/prod}
    gates: {evals_pass: false}
    rollback_on_failure: true
"""
AGENT = "support-triage"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(tmp_path / "repo", ENVIRONMENTS, "two directory environments", "Dev One")


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def status(capsys: pytest.CaptureFixture[str], repo: GitRepo, env: str) -> dict[str, Any]:
    code, out, err = alm(capsys, repo, "status", "--env", env, "--format", "json")
    assert code == 0, err
    return {row["name"]: row for row in json.loads(out)["agents"]}


def change_model(repo: GitRepo, temperature: str = "0.3") -> None:
    repo.replace(AGENT_FILE, "temperature: 0,", f"temperature: {temperature},")
    repo.commit("support-triage: warmer")


def bundle_file(repo: GitRepo, env: str, agent: str = AGENT) -> Path:
    return repo.path / ".alm" / "deployments" / env / f"{agent}.json"


def test_dry_run_prints_the_plan_and_writes_nothing(capsys, repo) -> None:
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev", "--dry-run")
    assert code == 0
    assert f"create    {AGENT}" in out and "plan: 4 create" in out and "dry run" in out
    assert not (repo.path / ".alm" / "deployments").exists()
    assert not (repo.path / ".alm" / "audit").exists()


def test_apply_then_apply_again_does_nothing(capsys, repo) -> None:
    code, out, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0, err
    assert "result: 4 created" in out
    rows = status(capsys, repo, "dev")
    assert {r["sync"] for r in rows.values()} == {"Synced"}
    assert rows[AGENT]["deployed_by"] == "Dev One <dev@example.com>"
    assert rows[AGENT]["commit"] == repo.git("rev-parse", "HEAD")
    log = (repo.path / ".alm" / "audit" / "dev.jsonl").read_bytes()
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in out and "created" not in out
    assert (repo.path / ".alm" / "audit" / "dev.jsonl").read_bytes() == log


def test_status_missing_outofsync_synced(capsys, repo) -> None:
    assert {r["sync"] for r in status(capsys, repo, "dev").values()} == {"Missing"}
    alm(capsys, repo, "apply", "--env", "dev")
    change_model(repo)
    rows = status(capsys, repo, "dev")
    assert rows[AGENT]["sync"] == "OutOfSync" and rows[AGENT]["live"] != rows[AGENT]["desired"]
    assert set(rows[AGENT]) >= {"name", "desired", "live", "sync"}
    code, out, _ = alm(capsys, repo, "status", "--env", "dev")
    assert code == 0 and f"OutOfSync {AGENT}" in out and "3 Synced, 1 OutOfSync" in out


def test_promotion_order_holds_a_revision_not_live_before(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    assert alm(capsys, repo, "apply", "--env", "staging")[0] == 0
    change_model(repo)
    code, out, _ = alm(capsys, repo, "apply", "--env", "staging")
    assert code == 0 and f"held      {AGENT}" in out and "promotion order holds it" in out
    assert status(capsys, repo, "staging")[AGENT]["sync"] == "OutOfSync"
    alm(capsys, repo, "apply", "--env", "dev")
    code, out, _ = alm(capsys, repo, "apply", "--env", "staging")
    assert code == 0 and f"updated   {AGENT}" in out
    assert status(capsys, repo, "staging")[AGENT]["sync"] == "Synced"


def test_rollback_sticks_until_unpinned(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    first = status(capsys, repo, "dev")[AGENT]["live"]
    change_model(repo)
    alm(capsys, repo, "apply", "--env", "dev")
    second = status(capsys, repo, "dev")[AGENT]["live"]
    code, out, err = alm(capsys, repo, "rollback", AGENT, "--env", "dev")
    assert code == 0, err
    assert f"rolled back from {second[:19]} to {first[:19]}" in out and "pinned" in out
    row = status(capsys, repo, "dev")[AGENT]
    assert row["sync"] == "Pinned" and row["live"] == first and row["pin"]["revision"] == first
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and f"left alone (pinned): {AGENT}" in out
    assert status(capsys, repo, "dev")[AGENT]["live"] == first
    code, out, _ = alm(capsys, repo, "unpin", AGENT, "--env", "dev")
    assert code == 0 and "pin to" in out
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and f"updated   {AGENT}" in out
    assert status(capsys, repo, "dev")[AGENT]["sync"] == "Synced"
    code, out, _ = alm(capsys, repo, "unpin", AGENT, "--env", "dev")
    assert code == 0 and "is not pinned" in out


def test_rollback_to_and_a_merged_revert_lifts_the_pin(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    first = status(capsys, repo, "dev")[AGENT]["live"]
    change_model(repo, "0.3")
    alm(capsys, repo, "apply", "--env", "dev")
    repo.replace(AGENT_FILE, "temperature: 0.3,", "temperature: 0.5,")
    repo.commit("warmer still")
    alm(capsys, repo, "apply", "--env", "dev")
    code, _, err = alm(capsys, repo, "rollback", AGENT, "--env", "dev", "--to", first[7:20])
    assert code == 0, err
    assert status(capsys, repo, "dev")[AGENT]["live"] == first
    repo.replace(AGENT_FILE, "temperature: 0.5,", "temperature: 0,")  # the revert, merged
    repo.commit("revert")
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "pin lifted" in out
    row = status(capsys, repo, "dev")[AGENT]
    assert row["sync"] == "Synced" and row["pin"] is None


def test_rollback_errors_exit_1(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    code, _, err = alm(capsys, repo, "rollback", AGENT, "--env", "dev")
    assert code == 1 and "no revision before" in err
    code, _, err = alm(capsys, repo, "rollback", "no-such-agent", "--env", "dev")
    assert code == 1 and "not deployed in dev" in err
    code, _, err = alm(capsys, repo, "apply", "--env", "nowhere")
    assert code == 2 and "unknown environment 'nowhere'" in err


def test_drift_an_edit_in_place_exits_3_and_apply_repairs_it(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    assert alm(capsys, repo, "drift", "--env", "dev")[0] == 0
    path = bundle_file(repo, "dev")
    data = json.loads(path.read_text())
    data["content"]["model"]["params"]["temperature"] = 0.9  # revision left as it was
    path.write_text(json.dumps(data))
    code, out, _ = alm(capsys, repo, "drift", "--env", "dev")
    assert code == 3
    assert f"{AGENT}: edited in place outside alm" in out
    assert "content.model.params.temperature: 0.9 on the target, 0.0 in git" in out
    assert status(capsys, repo, "dev")[AGENT]["sync"] == "OutOfSync"
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and f"repair    {AGENT}" in out
    assert alm(capsys, repo, "drift", "--env", "dev")[0] == 0


def test_drift_ignore_rules_and_warn_mode(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    alm(capsys, repo, "apply", "--env", "staging")
    for env in ("dev", "staging"):
        path = bundle_file(repo, env)
        data = json.loads(path.read_text())
        data["content"]["model"]["params"]["max_tokens"] = 5
        path.write_text(json.dumps(data))
    code, out, _ = alm(capsys, repo, "drift", "--env", "dev")  # dev ignores that path
    assert code == 0 and "differ only at ignored paths" in out
    code, out, _ = alm(capsys, repo, "drift", "--env", "staging")  # staging warns
    assert code == 0 and "drift.mode: warn" in out and "max_tokens: 5 on the target" in out
    bundle_file(repo, "staging", "email-drafting").unlink()
    code, out, _ = alm(capsys, repo, "drift", "--env", "staging")
    assert code == 0 and "email-drafting: missing" in out


def test_audit_verify_and_log(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    code, out, _ = alm(capsys, repo, "audit", "verify")
    assert code == 0 and "8 records, the chain holds" in out
    code, out, _ = alm(capsys, repo, "audit", "log", "--env", "dev", "--agent", AGENT)
    lines = out.splitlines()
    assert len(lines) == 2 and "create dev/support-triage" in lines[0]
    assert "started" in lines[0] and " ok " in lines[1] and "by Dev One" in lines[1]
    code, out, _ = alm(capsys, repo, "audit", "log", "--format", "json")
    assert len(json.loads(out)) == 8


@pytest.mark.parametrize(
    ("tamper", "line"),
    [
        (lambda ls: [ls[0], ls[1].replace(b'"started"', b'"ok"'), *ls[2:]], 2),  # edited
        (lambda ls: [ls[0], *ls[2:]], 2),  # a line removed
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], 2),  # two lines swapped
        (lambda ls: [*ls[:3], ls[0], *ls[3:]], 4),  # a line inserted (a copy)
    ],
)
def test_audit_verify_names_the_first_bad_line(capsys, repo, tamper, line) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    log = repo.path / ".alm" / "audit" / "dev.jsonl"
    lines = log.read_bytes().splitlines()
    log.write_bytes(b"\n".join(tamper(lines)) + b"\n")
    code, out, err = alm(capsys, repo, "audit", "verify", "--env", "dev")
    assert code == 1
    assert f"line {line}:" in err and f"line {line}:" in out


def test_a_failing_agent_exits_1_naming_each_state(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    change_model(repo)
    repo.replace("agents/email-drafting/agent.yaml", "temperature: 0.3", "temperature: 0.4")
    repo.commit("two agents change")
    # the target cannot record email-drafting's history: its write fails
    history = repo.path / ".alm" / "deployments" / "dev" / ".history" / "email-drafting.jsonl"
    history.unlink()
    history.mkdir()
    code, out, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1
    assert f"updated   {AGENT}" in out and "failed    email-drafting" in out
    assert "1 of 4 agents failed in dev: email-drafting" in err
    assert status(capsys, repo, "dev")[AGENT]["sync"] == "Synced"
    history.rmdir()
    # the failed write landed (its history did not): read in full, as no memo was written
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in out and REMEMBERED not in out


REMEMBERED = "not re-read"


def test_a_no_op_apply_is_remembered_and_any_change_is_seen(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")  # every write done: what it left remembered
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in out and REMEMBERED in out
    (repo.path / ".alm" / "cache" / "deploy" / "dev.json").unlink()  # a cache: safe to delete
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")  # planned in full: remembered
    assert code == 0 and "nothing to apply" in out and REMEMBERED not in out
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "nothing to apply" in out and REMEMBERED in out
    # a bundle edited in place changes its version: planned in full, repaired
    path = bundle_file(repo, "dev")
    path.write_text(path.read_text().replace('"temperature": 0.0', '"temperature": 0.8'))
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and f"repaired  {AGENT}" in out and REMEMBERED not in out
    assert REMEMBERED in alm(capsys, repo, "apply", "--env", "dev")[1]  # the repair's result
    change_model(repo)  # a commit that changes a bundle
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and f"updated   {AGENT}" in out and REMEMBERED not in out
    assert REMEMBERED in alm(capsys, repo, "apply", "--env", "dev")[1]
    path.write_text(path.read_text().replace('"temperature": 0.3', '"temperature": 0.8'))
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")  # edited after the update
    assert code == 0 and "repaired  " in out and REMEMBERED not in out
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev", "--prune")  # other options
    assert code == 0 and REMEMBERED not in out


def test_a_committed_memo_is_never_trusted(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    alm(capsys, repo, "apply", "--env", "dev")
    memo = repo.path / ".alm" / "cache" / "deploy" / "dev.json"
    assert memo.is_file()
    repo.git("add", "-f", str(memo))
    repo.git("commit", "-q", "-m", "a memo from the repository")
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and REMEMBERED not in out


def test_an_invalid_desired_state_is_refused_with_its_first_error(capsys, repo) -> None:
    text = repo.read(AGENT_FILE)
    repo.write(
        AGENT_FILE, text.replace("  name: gpt-4.1-mini\n", "  name: gpt-4.1-mini\n  nme: x\n", 1)
    )
    repo.commit("a typo in the model block")
    code, _out, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 1
    assert (
        "the desired state at HEAD is invalid (1 error; first: agents/support-triage/agent.yaml:"
        in err
    )
    assert "run alm validate --ref HEAD" in err and "Traceback" not in err
    assert not (repo.path / ".alm" / "deployments" / "dev").exists()  # nothing written
