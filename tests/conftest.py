from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo, init_repo
from tests.openai_server import OpenAIServer
from tests.test_spec_minifleet import make_mini


@pytest.fixture(autouse=True)
def _not_under_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """alm's plain output, even when the suite itself runs in GitHub Actions (where alm
    would wrap it in ::stop-commands::); tests of that set GITHUB_ACTIONS themselves."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.fixture
def fleet_repo(tmp_path: Path) -> GitRepo:
    """A git repository with the example fleet committed on main."""
    return init_repo(tmp_path / "repo")


@pytest.fixture
def empty_repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "repo", with_fleet=False)


@pytest.fixture
def mini(tmp_path: Path) -> GitRepo:
    """A small fixed fleet whose line numbers the tests know."""
    return make_mini(tmp_path / "repo")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIServer]:
    """A local OpenAI-compatible server, wired in through the environment as a user would."""
    with OpenAIServer([{"content": "Drafted DR-3f9a12c0 for Joanna."}]) as live:
        monkeypatch.setenv("ALM_OPENAI_BASE_URL", live.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
        yield live
