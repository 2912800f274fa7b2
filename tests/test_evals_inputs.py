"""The result cache reuses a trial only while what it depended on is unchanged: the
cassettes a builtin agent replayed or recorded, a command agent's code; never an http agent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.evals.engine import EngineConfig
from reconciler.evals.inputs import run_inputs, tree_digest
from reconciler.evals.run import plan_jobs, run_evals
from reconciler.spec.agent import Agent
from reconciler.spec.loader import load_worktree
from tests.gitrepo import GitRepo, drop_cassettes
from tests.openai_server import OpenAIServer

AGENT = "email-drafting"


def test_a_cached_replay_is_not_reused_once_its_cassettes_are_gone(
    fleet_repo: GitRepo, tmp_path: Path
) -> None:
    state = load_worktree(fleet_repo.path, {})
    jobs = plan_jobs(state, [AGENT])
    cache = tmp_path / "cache.sqlite"
    first = run_evals(fleet_repo.path, state, jobs, "replay", EngineConfig(), cache)
    again = run_evals(fleet_repo.path, state, jobs, "replay", EngineConfig(), cache)
    assert (first.ran, again.cached) == (5, 5)
    drop_cassettes(fleet_repo)
    gone = run_evals(fleet_repo.path, state, jobs, "replay", EngineConfig(), cache)
    assert (gone.cached, gone.not_run) == (0, 5)
    assert all(c.reason.startswith("not recorded") for c in gone.results.cases)


def test_record_again_after_the_cassettes_were_deleted_calls_the_model(
    fleet_repo: GitRepo, server: OpenAIServer, tmp_path: Path
) -> None:
    drop_cassettes(fleet_repo)
    state = load_worktree(fleet_repo.path, {})
    jobs = plan_jobs(state, [AGENT])
    cache = tmp_path / "cache.sqlite"
    run_evals(fleet_repo.path, state, jobs, "record", EngineConfig(), cache)
    unchanged = run_evals(fleet_repo.path, state, jobs, "record", EngineConfig(), cache)
    assert (unchanged.cached, len(server.requests)) == (5, 5)  # nothing to record again
    drop_cassettes(fleet_repo)
    rerecorded = run_evals(fleet_repo.path, state, jobs, "record", EngineConfig(), cache)
    assert (rerecorded.cached, len(server.requests)) == (0, 10)
    assert len(list((fleet_repo.path / "evals" / AGENT / "cassettes").glob("*.json"))) == 5


def _agent(runtime: dict[str, object]) -> Agent:
    spec = load_worktree_agent()
    return spec.model_copy(update={"runtime": spec.runtime.model_validate(runtime)})


def load_worktree_agent() -> Agent:
    root = Path(__file__).resolve().parent.parent
    return next(s.agent for s in load_worktree(root, {}).agents if s.name == AGENT)


def test_a_command_agents_code_is_part_of_its_inputs_and_http_is_never_cached(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    folder = root / "agents" / AGENT
    folder.mkdir(parents=True)
    (folder / "agent.py").write_text("print('v1')\n")
    command = _agent({"type": "command", "command": ["python3", "agent.py"]})
    before = run_inputs(root, [command], "replay")[AGENT]
    (folder / "agent.py").write_text("print('v2')\n")
    after = run_inputs(root, [command], "replay")[AGENT]
    assert before is not None and after is not None and before != after
    http = _agent({"type": "http", "url": "http://127.0.0.1:9/agent"})
    assert run_inputs(root, [http], "replay") == {AGENT: None}


def test_the_same_files_hash_alike_wherever_the_tree_is(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "agents" / "x").mkdir(parents=True)
        (tmp_path / name / "agents" / "x" / "agent.py").write_text("same\n")
    digests = {tree_digest(tmp_path / n, [tmp_path / n / "agents" / "x"]) for n in ("a", "b")}
    assert len(digests) == 1
    shutil.rmtree(tmp_path / "b" / "agents" / "x")
    (tmp_path / "b" / "agents" / "x").mkdir()
    (tmp_path / "b" / "agents" / "x" / "agent.py").write_text("other\n")
    assert tree_digest(tmp_path / "b", [tmp_path / "b" / "agents" / "x"]) not in digests


def test_a_live_answer_is_reused_only_for_the_endpoint_that_gave_it(
    fleet_repo: GitRepo, server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = load_worktree(fleet_repo.path, {})
    jobs = plan_jobs(state, [AGENT])
    cache = tmp_path / "cache.sqlite"
    first = run_evals(fleet_repo.path, state, jobs, "live", EngineConfig(), cache)
    again = run_evals(fleet_repo.path, state, jobs, "live", EngineConfig(), cache)
    assert (first.ran, again.cached, len(server.requests)) == (5, 5, 5)
    with OpenAIServer([{"content": "Drafted DR-3f9a12c0 for Joanna."}]) as other:
        monkeypatch.setenv("ALM_OPENAI_BASE_URL", other.base_url)
        moved = run_evals(fleet_repo.path, state, jobs, "live", EngineConfig(), cache)
        assert (moved.cached, moved.ran, len(other.requests)) == (0, 5, 5)
        key = run_inputs(fleet_repo.path, [s.agent for s in state.agents], "live")[AGENT]
        assert key and "127.0.0.1" not in key  # hashed: the cache never holds the host
