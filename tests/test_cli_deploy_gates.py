"""alm apply's gates end to end, on real git repositories holding the example fleet: the
evals gate (real replayed evals: the shipped cassettes, the result cache, results files
written by `alm eval`) and the previous-environment gate per agent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitrepo import GitRepo, init_repo
from tests.test_cli_deploy import alm, status

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: .alm/deployments/dev}
    gates: {previous_environment: false}
  - name: staging
    target: {type: directory, path: .alm/deployments/staging}
  - name: prod
    target: {type: directory, path: .alm/deployments/prod}
"""
TRIAGE = "agents/support-triage/agent.yaml"
DRAFTING = "agents/email-drafting/agent.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    made = init_repo(tmp_path / "repo")
    made.write("policies/environments.yaml", ENVIRONMENTS)  # evals_pass: true, the default
    made.write(".gitignore", ".alm/\n")
    made.commit("three directory environments, gated on evals")
    return made


def cheaper_model(repo: GitRepo) -> None:
    """The shipped cassettes hold gpt-4.1-nano's degraded answers for support-triage."""
    repo.replace(TRIAGE, "  name: gpt-4.1-mini\n", "  name: gpt-4.1-nano\n")


def wider_canary(repo: GitRepo) -> None:
    """A new revision of email-drafting whose evals are the same (rollout is not run)."""
    repo.replace(DRAFTING, "canary_percent: 10", "canary_percent: 20")


def test_an_agent_whose_evals_fail_is_held_and_the_others_go_ahead(capsys, repo) -> None:
    code, out, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0, err
    assert "result: 4 created" in out and "evals: 34 trials" in err  # every agent evaluated
    cheaper_model(repo)
    wider_canary(repo)
    repo.commit("a cheaper model for support-triage; a wider canary for email-drafting")
    code, out, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0, err
    assert "evals: 17 trials" in err  # the two changed agents only (12 + 5 cases)
    held = next(line for line in out.splitlines() if line.startswith("  held      support"))
    assert "evals fail: task_success_rate 0." in held and "< min 0.9" in held
    assert "updated   email-drafting" in out and "support-triage" not in out.split("applied")[1]
    rows = status(capsys, repo, "dev")
    assert rows["email-drafting"]["sync"] == "Synced"
    triage = rows["support-triage"]
    assert triage["sync"] == "OutOfSync" and triage["why"].startswith("held: evals fail: ")
    assert rows["invoice-processing"]["why"] is None
    code, text, _ = alm(capsys, repo, "status", "--env", "dev")
    assert code == 0 and "(held: evals fail: task_success_rate" in text
    log = (repo.path / ".alm" / "audit" / "dev.jsonl").read_text()
    assert log.count('"agent":"support-triage"') == 2  # created (started, ok): never updated


def test_a_held_plan_is_evaluated_again_not_remembered(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    cheaper_model(repo)
    repo.commit("a cheaper model")
    alm(capsys, repo, "apply", "--env", "dev")
    code, out, err = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0 and "not re-read" not in out
    assert "evals: 12 trials: 0 run, 12 from the cache" in err  # the result cache first
    assert "held      support-triage" in out and "nothing to apply" in out


def test_cases_that_cannot_run_hold_the_agent(capsys, repo) -> None:
    alm(capsys, repo, "apply", "--env", "dev")
    repo.replace(TRIAGE, "temperature: 0,", "temperature: 0.3,")  # not in the cassettes
    repo.commit("warmer")
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev")
    assert code == 0
    assert "held      support-triage" in out and "evals could not run: 12 of 12 trials" in out


def test_an_agent_with_no_eval_suite_cannot_be_evaluated_and_is_held(capsys, repo) -> None:
    for suite in (repo.path / "evals" / "email-drafting").glob("*.yaml"):
        suite.unlink()
    repo.commit("email-drafting loses its suite")
    code, out, _ = alm(capsys, repo, "apply", "--env", "dev", "--dry-run")
    assert code == 0 and "plan: 3 create" in out and "1 held" in out
    assert "evals cannot run: no eval suite" in out


def test_without_the_evals_gate_nothing_is_evaluated(capsys, repo, tmp_path) -> None:
    given = results_of(capsys, repo, tmp_path / "unused.json")  # well formed, not needed
    repo.replace("policies/environments.yaml", "{previous_environment: false}",
                 "{previous_environment: false, evals_pass: false}")  # fmt: skip
    cheaper_model(repo)
    repo.commit("no evals gate in dev")
    code, out, err = alm(capsys, repo, "apply", "--env", "dev", "--evals", str(given))
    assert code == 0 and "result: 4 created" in out and "trials" not in err  # none run
    assert "--evals: not used: dev does not gate on evals" in err
    # a malformed file is refused all the same (tests/test_r2_deploy_evals_file.py)
    (tmp_path / "unused.json").write_text("not read")
    code, _, err = alm(capsys, repo, "apply", "--env", "dev", "--evals", str(given))
    assert code == 2 and "unused.json:1:1: not JSON" in err


def results_of(capsys: pytest.CaptureFixture[str], repo: GitRepo, out: Path) -> Path:
    _, _, err = alm(capsys, repo, "eval", "--ref", "HEAD", "--agent", "support-triage",
                       "--out", str(out))  # fmt: skip
    assert out.exists(), err
    return out


def test_results_for_the_same_bundle_are_used_as_given(capsys, repo, tmp_path) -> None:
    cheaper_model(repo)
    repo.commit("a cheaper model")
    given = results_of(capsys, repo, tmp_path / "nano.json")  # failing: the PR's run
    code, out, err = alm(capsys, repo, "apply", "--env", "dev", "--evals", str(given))
    assert code == 0, err
    assert "held      support-triage" in out and "evals fail: task_success_rate" in out
    assert "evals: 22 trials" in err  # the three others (5 + 12 + 5): not in the file
    assert "--evals: email-drafting: no results for it in the file" in err
    assert "--evals: support-triage" not in err  # taken from the file, not run here


def test_results_for_another_bundle_mean_evaluating_again(capsys, repo, tmp_path) -> None:
    passing = results_of(capsys, repo, tmp_path / "mini.json")  # before the change: passes
    cheaper_model(repo)
    repo.commit("a cheaper model")
    code, out, err = alm(capsys, repo, "apply", "--env", "dev", "--evals", str(passing))
    assert code == 0, err
    assert "--evals: support-triage: its results are for another bundle" in err
    assert "evals: 34 trials" in err  # support-triage evaluated here too
    assert "held      support-triage" in out and "evals fail: task_success_rate" in out


def test_a_results_file_that_is_not_one_is_an_error(capsys, repo, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "run": []}')
    code, _, err = alm(capsys, repo, "apply", "--env", "dev", "--evals", str(bad))
    assert code == 2 and "bad.json" in err and "not a valid results file" in err


def test_promotion_is_per_agent(capsys, repo) -> None:
    # email-drafting skips dev; sales-research is not in prod at all
    repo.replace(DRAFTING, "environments: [dev, staging, prod]", "environments: [staging, prod]")
    repo.commit("email-drafting starts in staging")
    code, out, err = alm(capsys, repo, "apply", "--env", "staging")
    assert code == 0, err
    drafting = next(line for line in out.splitlines() if "email-drafting" in line)
    assert drafting.startswith("  create") and "lists no environment before this one" in drafting
    assert "held      support-triage" in out and "not live in dev yet" in out
    assert "plan: 1 create" in out and "3 held" in out
    code, out, err = alm(capsys, repo, "apply", "--env", "prod")  # its gate: staging
    assert code == 0, err
    assert "create    email-drafting" in out and "held      support-triage" in out
    assert "not live in staging yet" in out
    assert status(capsys, repo, "prod")["email-drafting"]["sync"] == "Synced"
    why = status(capsys, repo, "staging")["support-triage"]["why"]
    assert why is not None and "promotion order holds it" in why
