"""alm's pre-commit hooks (.pre-commit-hooks.yaml), run by the real pre-commit.

The manifest is checked with pre-commit's own schema. Its hooks then run in a fleet
repository through `pre-commit run`, as `repo: local` hooks with `language: system` (the
installed alm), so no environment is built from the registry: the same entry, file filter
and arguments as a user's `repo:` of this project would run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pre_commit.clientlib import load_manifest

from tests.gitrepo import GitRepo, init_repo

MANIFEST = Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml"


def hooks() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = load_manifest(str(MANIFEST))
    return loaded


def local_config(repo: GitRepo) -> None:
    as_system = [{**hook, "language": "system"} for hook in hooks()]
    keep = ("id", "name", "entry", "language", "pass_filenames", "files", "require_serial")
    config = {"repos": [{"repo": "local", "hooks": [{k: h[k] for k in keep} for h in as_system]}]}
    repo.write(".pre-commit-config.yaml", yaml.safe_dump(config, sort_keys=False))
    repo.git("add", ".pre-commit-config.yaml")


def pre_commit(repo: GitRepo, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(sys.executable).parent)  # where the installed `alm` is
    env = os.environ | {
        "PRE_COMMIT_HOME": str(home),
        "PATH": bin_dir + os.pathsep + os.environ["PATH"],
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", *args],
        cwd=repo.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_manifest_is_valid_and_names_both_hooks() -> None:
    assert [h["id"] for h in hooks()] == ["alm-validate", "alm-policy-check"]
    assert all(h["pass_filenames"] is False for h in hooks())


@pytest.fixture
def fleet(tmp_path: Path) -> GitRepo:
    repo = init_repo(tmp_path / "fleet")
    local_config(repo)
    return repo


def test_the_example_fleet_passes_both_hooks(fleet: GitRepo, tmp_path: Path) -> None:
    done = pre_commit(fleet, tmp_path / "home", "--all-files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alm validate" in done.stdout and "alm policy check" in done.stdout
    assert done.stdout.count("Passed") == 2


def test_a_broken_spec_fails_the_commit_with_its_place(fleet: GitRepo, tmp_path: Path) -> None:
    fleet.replace("agents/email-drafting/agent.yaml", "crm.get_account", "crm.no_such_tool")
    fleet.git("add", "agents/email-drafting/agent.yaml")
    done = pre_commit(fleet, tmp_path / "home")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "alm validate" in done.stdout and "Failed" in done.stdout
    found = re.search(r"agents/email-drafting/agent\.yaml:(\d+):(\d+): error: (.*)", done.stdout)
    assert found is not None, done.stdout
    assert "crm.no_such_tool" in found.group(3)


def test_a_change_outside_the_fleet_skips_the_hooks(fleet: GitRepo, tmp_path: Path) -> None:
    fleet.write("notes.txt", "nothing alm reads\n")
    fleet.git("add", "notes.txt")
    done = pre_commit(fleet, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Skipped") == 2
