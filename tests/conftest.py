from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitrepo import GitRepo, init_repo


@pytest.fixture
def fleet_repo(tmp_path: Path) -> GitRepo:
    """A git repository with the example fleet committed on main."""
    return init_repo(tmp_path / "repo")


@pytest.fixture
def empty_repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "repo", with_fleet=False)
