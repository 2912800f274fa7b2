"""`alm apply --evals FILE` checks FILE before anything else: a malformed one is a usage
error (exit 2) naming it and what is wrong, even when the plan has nothing to evaluate
(a no-op apply) or the environment does not gate on evals."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: .alm/deployments/dev}
    gates: {previous_environment: false, evals_pass: true}
  - name: staging
    target: {type: directory, path: .alm/deployments/staging}
    gates: {previous_environment: false, evals_pass: false}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(tmp_path / "repo", ENVIRONMENTS, "dev gates on evals")


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ('{"run": ', "broken.json:1:9: not JSON"),
        ("{}", "broken.json: schema_version null is not supported"),
        ("[1, 2]", "broken.json"),
    ],
    ids=["truncated", "not results", "a list"],
)
@pytest.mark.parametrize("environment", ["dev", "staging"])
def test_a_malformed_evals_file_is_refused_whatever_the_plan(
    capsys: pytest.CaptureFixture[str],
    repo: GitRepo,
    tmp_path: Path,
    content: str,
    said: str,
    environment: str,
) -> None:
    staged = alm(capsys, repo, "apply", "--env", "staging")  # no evals gate: applies at once
    assert staged[0] == 0, staged[2]
    broken = tmp_path / "broken.json"
    broken.write_text(content)
    # staging: already applied, nothing to do; dev: the file is checked before any eval
    code, out, err = alm(capsys, repo, "apply", "--env", environment, "--evals", str(broken))
    assert code == 2, (out, err)
    assert said in err and "--evals" in err and "Traceback" not in err
    assert out == ""  # refused before planning: nothing printed, nothing written
    assert not (repo.path / ".alm" / "deployments" / "dev").exists()
