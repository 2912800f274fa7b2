"""alm ops simulate --breach on an agent with no must_never rules: the breach must break
what alm ops check checks (its task_success_rate floor), through the real commands
(simulate, ingest, check); before, the tasks said 'breaching' and the check said ok.
An agent whose contract gives the check nothing a breach can break is refused (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo

AGENT = "sales-research"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"
ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: prod
    target: {type: directory, path: .alm/deployments/prod}
    gates: {previous_environment: false, evals_pass: false}
"""


def _without_must_never(repo: GitRepo) -> None:
    """sales-research (internal tier: no must_never needed) with its rules removed, in prod."""
    text = (repo.path / AGENT_FILE).read_text("utf-8")
    start, end = text.index("  must_never:\n"), text.index("  escalation:\n")
    text = text[:start] + text[end:]
    repo.write(AGENT_FILE, text.replace("environments: [dev, staging]", "environments: [prod]"))
    repo.commit("sales-research: no must_never rules")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    made = deploy_repo(tmp_path / "repo", ENVIRONMENTS, "prod on a directory", "Ops One")
    _without_must_never(made)
    return made


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def _simulate(capsys: pytest.CaptureFixture[str], repo: GitRepo, out: Path) -> tuple[int, str]:
    code, text, err = alm(capsys, repo, "ops", "simulate", "--env", "prod", "--out", str(out),
                          "--hours", "8", "--seed", "3", "--tasks-per-hour", "60",
                          "--breach", AGENT)  # fmt: skip
    assert "Traceback" not in err
    return code, text + err


def test_a_breach_without_must_never_rules_is_seen_by_the_check(capsys, repo, tmp_path) -> None:
    _, out, err = alm(capsys, repo, "validate")  # (this test's one environment aside)
    assert "must_never" not in out + err  # an internal agent may have none
    assert alm(capsys, repo, "apply", "--env", "prod")[0] == 0
    traces = tmp_path / "day.jsonl.gz"
    code, printed = _simulate(capsys, repo, traces)
    assert code == 0, printed
    assert "breaching" in next(li for li in printed.splitlines() if AGENT in li)
    db = tmp_path / "traces.db"
    code, _, err = alm(capsys, repo, "ops", "ingest", str(traces), "--db", str(db))
    assert code == 0, err
    code, out, err = alm(capsys, repo, "ops", "check", "--env", "prod", "--db", str(db),
                         "--format", "json")  # fmt: skip
    agents = {a["agent"]: a for a in json.loads(out)["agents"]}
    assert code == 3, agents[AGENT]["checks"]
    assert agents[AGENT]["status"] == "breach"
    broken = {c["metric"] for c in agents[AGENT]["checks"] if c["status"] == "breach"}
    assert "task_success_rate" in broken
    assert {a["status"] for n, a in agents.items() if n != AGENT} == {"ok"}


def test_a_breach_the_check_could_not_see_is_refused(capsys, repo, tmp_path) -> None:
    repo.replace(AGENT_FILE, "task_success_rate: {min: 0.85}", "task_success_rate: {min: 0.6}")
    repo.commit("sales-research: a low floor")
    traces = tmp_path / "day.jsonl"
    code, printed = _simulate(capsys, repo, traces)
    assert code == 2, printed
    assert (
        f"--breach {AGENT}: alm ops check would not detect it: it has no must_never rule "
        "with forbid_output_patterns to leak, and its task_success_rate min 0.6 is not above "
        "0.8" in printed
    )
    assert not traces.exists()
