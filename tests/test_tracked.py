"""reconciler.tracked: which paths of alm's local state git tracks, on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import tracked as tracked_module
from reconciler.tracked import Committed, committed, refuse_tracked, tracked
from tests.gitrepo import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    made = GitRepo(tmp_path / "repo")
    made.path.mkdir()
    made.git("init", "-q", "-b", "main")
    made.write("README", "a repository\n")
    made.commit("first")
    return made


def test_an_untracked_or_missing_path_is_not_tracked(repo: GitRepo) -> None:
    repo.write(".alm/locks/dev.lock", "")
    assert tracked(repo.path, repo.path / ".alm/locks/dev.lock") is None
    assert tracked(repo.path, repo.path / ".alm/audit/dev.jsonl") is None
    refuse_tracked(repo.path, repo.path / ".alm/locks/dev.lock")  # nothing raised


def test_a_committed_file_or_one_under_a_folder_is_named(repo: GitRepo) -> None:
    repo.write(".alm/cache/clone/HEAD", "ref: refs/heads/main\n")
    repo.commit("attack")
    folder = repo.path / ".alm/cache/clone"
    assert tracked(repo.path, repo.path / "nothing", folder) == ".alm/cache/clone/HEAD"
    with pytest.raises(Committed) as refused:
        refuse_tracked(repo.path, folder, what="the clone", alternative="or else")
    assert refused.value.message == (
        ".alm/cache/clone/HEAD: the clone is committed to the repository; alm's local state "
        "under .alm/ is never committed: remove it from git (git rm -r --cached "
        ".alm/cache/clone) and add .alm/ to .gitignore, or else"
    )


def test_names_are_literal_never_pathspec_magic(repo: GitRepo) -> None:
    repo.write(".alm/audit/x.jsonl", "committed\n")
    repo.commit("attack")
    for name in ("*.jsonl", ":(glob)**", ":/"):
        (repo.path / ".alm/audit" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / ".alm/audit" / name).touch()
        assert tracked(repo.path, repo.path / ".alm/audit" / name) is None, name


def test_a_link_inside_the_repository_is_followed_and_a_committed_link_is_named(
    repo: GitRepo,
) -> None:
    repo.write("kept/audit/dev.jsonl", "committed\n")
    (repo.path / ".alm").symlink_to("kept")  # git lists nothing beyond a link: resolved
    repo.commit("attack")
    assert tracked(repo.path, repo.path / ".alm/audit/dev.jsonl") == "kept/audit/dev.jsonl"
    assert tracked(repo.path, repo.path / ".alm") == ".alm"  # the committed link itself


def test_outside_git_nothing_is_committed(tmp_path: Path) -> None:
    (tmp_path / ".alm").mkdir()
    (tmp_path / ".alm/state").touch()
    assert tracked(tmp_path, tmp_path / ".alm/state") is None
    assert not committed(tmp_path, tmp_path / ".alm/state")


def test_git_that_cannot_answer_is_a_refusal_and_a_skipped_cache(repo: GitRepo) -> None:
    repo.write(".alm/state", "")
    (repo.path / ".git/index").write_bytes(b"DIRC garbage, not an index")
    with pytest.raises(Committed, match=r"^\.alm/state: git could not tell whether"):
        tracked(repo.path, repo.path / ".alm/state")
    assert committed(repo.path, repo.path / ".alm/state")  # a cache is skipped


def test_the_listing_read_is_bounded(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first name is used: past the bound git is stopped, and the answer stands."""
    for i in range(300):
        repo.write(f".alm/many/file-{i:04}", "")
    repo.commit("attack: many files")
    monkeypatch.setattr(tracked_module, "MAX_OUTPUT", 64)
    assert tracked(repo.path, repo.path / ".alm/many") == ".alm/many/file-0000"
