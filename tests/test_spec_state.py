"""DesiredState.agent: found by name through an index that follows the loader's appends."""

from __future__ import annotations

from dataclasses import replace

from reconciler.spec.loader import load_worktree
from tests.gitrepo import GitRepo


def test_agent_by_name_first_wins_and_follows_appends(fleet_repo: GitRepo) -> None:
    state = load_worktree(fleet_repo.path, {})
    first = state.agents[0]
    assert state.agent(first.name) is first
    assert state.agent("no-such-agent") is None
    twin = replace(first, folder="elsewhere")  # a duplicate name: the first one wins
    state.agents.append(twin)
    assert state.agent(first.name) is first
    state.agents.remove(first)  # a mutation the loader never makes: the index follows it too
    state.agents.append(first)
    assert state.agent(first.name) is twin
