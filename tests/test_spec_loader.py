"""Loading the desired state from the working tree and from git refs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import GitError
from reconciler.spec import source
from reconciler.spec.loader import load_ref, load_snapshot, load_worktree
from reconciler.spec.yamlsafe import MAX_FILE_BYTES
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import (
    AGENT,
    AGENT_YAML,
    PROMPT,
    PROMPT_TEXT,
    SUITE_YAML,
    at,
    check_ref,
    check_worktree,
    make_mini,
    mini_snapshot,
    only,
    pos,
)


@pytest.fixture
def mini(tmp_path: Path) -> GitRepo:
    return make_mini(tmp_path / "repo")


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- refs without a checkout -----------------------------------------------------------


def test_each_ref_and_the_worktree_give_their_own_prompt_version(mini: GitRepo) -> None:
    first = mini.git("rev-parse", "HEAD")
    mini.git("tag", "v1")
    mini.write(PROMPT, "second version\n")
    mini.commit("prompt v2")
    mini.write(PROMPT, "third version, not committed\n")
    head_before = mini.git("rev-parse", "HEAD")
    status_before = mini.git("status", "--porcelain")

    def version(state: Any) -> str:
        (agent,) = state.agents
        return str(agent.prompt.version)

    assert version(load_ref(mini.path, first)) == sha(PROMPT_TEXT)
    assert version(load_ref(mini.path, first[:10])) == sha(PROMPT_TEXT)
    assert version(load_ref(mini.path, "v1")) == sha(PROMPT_TEXT)
    assert version(load_ref(mini.path, "HEAD~1")) == sha(PROMPT_TEXT)
    assert version(load_ref(mini.path, "main")) == sha("second version\n")
    assert version(load_ref(mini.path, "HEAD")) == sha("second version\n")
    assert version(load_worktree(mini.path)) == sha("third version, not committed\n")
    # nothing was checked out: HEAD, the index and the working tree are as they were
    assert mini.git("rev-parse", "HEAD") == head_before
    assert mini.git("status", "--porcelain") == status_before
    assert mini.read(PROMPT) == "third version, not committed\n"


def test_prompt_text_and_version_are_the_file_content(mini: GitRepo) -> None:
    for state in (load_worktree(mini.path), load_ref(mini.path, "HEAD")):
        (agent,) = state.agents
        assert agent.prompt is not None
        assert agent.prompt.path == PROMPT
        assert agent.prompt.text == PROMPT_TEXT
        assert agent.prompt.version == sha(PROMPT_TEXT)
    one_byte_more = load_snapshot(mini_snapshot({PROMPT: (PROMPT_TEXT + " ").encode()}))
    assert one_byte_more.agents[0].prompt is not None
    assert one_byte_more.agents[0].prompt.version != sha(PROMPT_TEXT)


def test_ref_label_names_the_ref_and_commit(mini: GitRepo) -> None:
    commit = mini.git("rev-parse", "HEAD")
    assert load_ref(mini.path, "HEAD").label == f"HEAD ({commit[:12]})"


@pytest.mark.parametrize("ref", ["nope", "--output=/tmp/x", "HEAD~5"])
def test_unknown_or_option_like_ref_is_a_git_error(mini: GitRepo, ref: str) -> None:
    with pytest.raises(GitError) as info:
        load_ref(mini.path, ref)
    assert repr(ref) in info.value.message
    assert "expected a branch, tag or commit" in info.value.message


def test_ref_outside_a_git_repository_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        load_ref(tmp_path, "HEAD")


class _CountingSubprocess:
    """Stands in for the subprocess module inside reconciler.spec.source."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, args: list[str], **kwargs: Any) -> Any:
        self.calls.append(list(args))
        return subprocess.run(args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)


def _fleet_of(repo: GitRepo, count: int) -> None:
    for i in range(count):
        name = f"agent-{i:02d}"
        repo.write(f"agents/{name}/agent.yaml", AGENT_YAML.replace("name: helper", f"name: {name}"))
        repo.write(f"agents/{name}/prompts/system.md", f"prompt of {name}\n")
        repo.write(
            f"evals/{name}/basic.yaml", SUITE_YAML.replace("agent: helper", f"agent: {name}")
        )
    repo.commit(f"{count} agents")


def _git_calls_to_load(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any]:
    counter = _CountingSubprocess()
    with monkeypatch.context() as patch:
        patch.setattr(source, "subprocess", counter)
        state = load_ref(repo.path, "HEAD")
    assert all(call[0] == "git" for call in counter.calls)
    return len(counter.calls), state


def test_a_ref_is_read_with_a_bounded_number_of_git_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = make_mini(tmp_path / "small")
    small_calls, _ = _git_calls_to_load(small, monkeypatch)

    large = make_mini(tmp_path / "large")
    _fleet_of(large, 50)
    large_calls, state = _git_calls_to_load(large, monkeypatch)

    assert len(state.agents) == 51
    assert all(
        a.prompt is not None and a.prompt.text.startswith("prompt of") for a in state.agents[:50]
    )
    assert state.findings == []
    assert large_calls <= 3
    assert large_calls == small_calls  # independent of the number of files


def test_cassettes_are_not_read(mini: GitRepo) -> None:
    mini.write("evals/helper/cassettes/big.yaml", "x: " + "y" * (2 * MAX_FILE_BYTES))
    mini.write("evals/helper/cassettes/broken.yaml", "{{{")
    mini.commit("cassettes")
    for snapshot in (source.from_worktree(mini.path), source.from_git(mini.path, "HEAD")):
        assert not [p for p in snapshot.files if "/cassettes/" in p]
        state = load_snapshot(snapshot)
        assert state.findings == []


def test_files_outside_the_three_folders_are_not_read(mini: GitRepo) -> None:
    mini.write("README.yaml", "{{{ not yaml")
    mini.write("schemas/x.yaml", "{{{ not yaml")
    mini.commit("others")
    for snapshot in (source.from_worktree(mini.path), source.from_git(mini.path, "HEAD")):
        assert {p.split("/")[0] for p in snapshot.files} == {"agents", "policies", "evals"}


# --- size limits -----------------------------------------------------------------------


def _oversized(text: str) -> str:
    return text + "# " + "x" * MAX_FILE_BYTES + "\n"


def test_oversized_agent_file_in_worktree_and_ref(mini: GitRepo) -> None:
    mini.write(AGENT, _oversized(AGENT_YAML))
    mini.commit("big agent")
    size = len(_oversized(AGENT_YAML).encode())
    blob = source.from_git(mini.path, "HEAD").files[AGENT]
    assert blob.data is None and blob.size == size  # listed, but never read from git
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        finding = only(findings, "file-too-large")
        assert at(finding) == (AGENT, 1, 1)
        assert f"file is {size} bytes; expected at most {MAX_FILE_BYTES} bytes" in finding.message
        assert state.agents == []


def test_oversized_prompt_in_worktree_and_ref(mini: GitRepo) -> None:
    mini.write(PROMPT, "y" * (MAX_FILE_BYTES + 1))
    mini.commit("big prompt")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        assert at(only(findings, "file-too-large")) == (PROMPT, 1, 1)
        assert state.agents[0].prompt is None


def test_file_at_exactly_the_limit_is_read(mini: GitRepo) -> None:
    text = AGENT_YAML + "#" * (MAX_FILE_BYTES - len(AGENT_YAML.encode()) - 1) + "\n"
    assert len(text.encode()) == MAX_FILE_BYTES
    mini.write(AGENT, text)
    mini.commit("exactly the limit")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        assert findings == []
        assert [a.name for a in state.agents] == ["helper"]


# --- prompt paths and symlinks ---------------------------------------------------------

PROMPT_AT = pos(AGENT_YAML, "prompts/system.md")


@pytest.mark.parametrize(
    "declared",
    ["../../../etc/passwd", "/etc/passwd", "prompts/../../../../outside.md", "../../.."],
)
def test_declared_prompt_path_that_leaves_the_repository(mini: GitRepo, declared: str) -> None:
    mini.replace(AGENT, "prompts/system.md", declared)
    mini.commit("escape")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        finding = only(findings, "path-escape")
        assert at(finding) == (AGENT, *PROMPT_AT)
        assert repr(declared) in finding.message and "leaves the repository" in finding.message
        assert state.agents[0].prompt is None


def test_missing_prompt_file(mini: GitRepo) -> None:
    mini.replace(AGENT, "prompts/system.md", "prompts/nope.md")
    mini.commit("missing")
    for _, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        finding = only(findings, "missing-file")
        assert at(finding) == (AGENT, *PROMPT_AT)
        assert "agents/helper/prompts/nope.md does not exist" in finding.message


def _link(repo: GitRepo, rel: str, target: str) -> None:
    path = repo.path / rel
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret next to the repository, with a prompts/ folder of its own."""
    folder = tmp_path / "outside"
    (folder / "prompts").mkdir(parents=True)
    (folder / "secret.md").write_text("the secret\n")
    (folder / "prompts" / "system.md").write_text("the secret\n")
    return folder


@pytest.mark.parametrize("how", ["absolute", "relative", "folder"])
def test_prompt_symlink_out_of_the_repository(mini: GitRepo, outside: Path, how: str) -> None:
    if how == "absolute":
        _link(mini, PROMPT, str(outside / "secret.md"))
    elif how == "relative":
        _link(mini, PROMPT, "../../../../outside/secret.md")
        assert (mini.path / PROMPT).read_text() == "the secret\n"  # it does lead out
    else:
        _link(mini, "agents/helper/prompts", str(outside / "prompts"))
    mini.commit(f"{how} link out")
    assert mini.git("ls-files", "-s", "agents/helper").count("120000") == 1  # git kept a link
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        finding = only(findings, "path-escape")
        assert at(finding) == (AGENT, *PROMPT_AT)
        assert state.agents[0].prompt is None
        assert all("the secret" not in f.message for f in findings)


def test_symlink_loop_is_refused(mini: GitRepo) -> None:
    _link(mini, PROMPT, "system.md")
    mini.commit("loop")
    for _, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        assert at(only(findings, "path-escape")) == (AGENT, *PROMPT_AT)


def test_symlinks_inside_the_repository_are_followed(mini: GitRepo) -> None:
    mini.write("agents/shared/system.md", "shared prompt\n")
    _link(mini, PROMPT, "../../shared/system.md")
    mini.commit("file link inside")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        assert findings == []
        prompt = state.agents[0].prompt
        assert prompt is not None
        assert (prompt.path, prompt.version) == ("agents/shared/system.md", sha("shared prompt\n"))

    mini.write("agents/shared/prompts/system.md", "shared folder prompt\n")
    _link(mini, "agents/helper/prompts", "../shared/prompts")
    mini.commit("folder link inside")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        assert findings == []
        prompt = state.agents[0].prompt
        assert prompt is not None
        assert prompt.path == "agents/shared/prompts/system.md"
        assert prompt.text == "shared folder prompt\n"


def test_agent_file_that_is_a_symlink_is_refused(mini: GitRepo) -> None:
    mini.write("agents/real.yaml", AGENT_YAML)
    _link(mini, AGENT, "../real.yaml")
    mini.commit("agent link")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        finding = only(findings, "symlink")
        assert at(finding) == (AGENT, 1, 1)
        assert "expected a regular file" in finding.message
        assert state.agents == []


def test_top_folder_that_is_a_symlink_is_not_followed(mini: GitRepo, tmp_path: Path) -> None:
    elsewhere = make_mini(tmp_path / "elsewhere")
    _link(mini, "agents", str(elsewhere.path / "agents"))
    mini.commit("agents is a link")
    for state, findings in (check_worktree(mini.path), check_ref(mini.path, "HEAD")):
        finding = only(findings, "symlink")
        assert at(finding) == ("agents", 1, 1)
        assert state.agents == []


# --- what the loader does with documents -----------------------------------------------


def test_loading_goes_on_after_a_bad_file() -> None:
    state = load_snapshot(
        mini_snapshot({"policies/broken.yaml": b"a: [\n", "evals/helper/bad.yaml": b"- 1\n"})
    )
    files = sorted(f.location.file for f in state.findings)
    assert files == ["evals/helper/bad.yaml", "policies/broken.yaml"]
    assert [a.name for a in state.agents] == ["helper"]
    assert len(state.catalogs) == 1 and len(state.suites["helper"]) == 1


def test_an_agent_file_with_two_documents() -> None:
    text = AGENT_YAML + "---\nkind: Agent\n"
    state = load_snapshot(mini_snapshot({AGENT: text.encode()}))
    finding = only(state.findings, "schema")
    assert at(finding) == (AGENT, 26, 1)
    assert "several documents" in finding.message
    assert [a.name for a in state.agents] == ["helper"]


def test_a_policies_file_may_hold_several_documents() -> None:
    pricing = (
        "apiVersion: alm/v1\nkind: Pricing\n"
        "models: [{provider: acme, name: m1, input_usd_per_mtok: 1, output_usd_per_mtok: 2}]\n"
        "---\napiVersion: alm/v1\nkind: Pricing\n"
        "models: [{provider: acme, name: m2, input_usd_per_mtok: 1, output_usd_per_mtok: 2}]\n"
    )
    state = load_snapshot(mini_snapshot({"policies/pricing.yaml": pricing.encode()}))
    assert state.findings == []
    assert [p.model.models[0].name for p in state.pricing] == ["m1", "m2"]


def test_kind_must_fit_the_folder() -> None:
    state = load_snapshot(mini_snapshot({"policies/agent.yaml": AGENT_YAML.encode()}))
    finding = only(state.findings, "kind")
    assert at(finding) == ("policies/agent.yaml", 2, 7)
    assert "expected one of: Environments, Policy, Pricing, ToolCatalog" in finding.message


def test_an_eval_folder_counts_only_with_a_suite_file() -> None:
    state = load_snapshot(mini_snapshot({"evals/other/notes.md": b"todo\n"}))
    assert state.eval_folders == {"helper"}


def test_worktree_snapshot_is_the_same_from_a_relative_root(
    mini: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    mini.write("evals/x/cassettes/k.json", "{}")
    monkeypatch.chdir(mini.path)
    for cassettes in (False, True):
        near = source.from_worktree(Path("."), cassettes)
        far = source.from_worktree(mini.path, cassettes)
        assert near.files == far.files and "agents/helper/agent.yaml" in near.files
        assert ("evals/x/cassettes/k.json" in near.files) is cassettes
