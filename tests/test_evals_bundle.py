"""Fingerprints: the same hashes whether a state's shared parts are computed once for
every agent (Shared) or again for each, and each agent's own. (What a change affects:
tests/test_plan_build.py and tests/test_cli_diff.py.)"""

from __future__ import annotations

from reconciler.evals.bundle import Shared, fingerprint
from reconciler.spec.loader import load_worktree
from tests.gitrepo import GitRepo


def test_hashes_from_a_shared_state_are_the_hashes_made_alone(fleet_repo: GitRepo) -> None:
    state = load_worktree(fleet_repo.path, {})
    shared = Shared(state)
    alone = [fingerprint(spec, state) for spec in state.agents]
    assert [fingerprint(spec, state, shared) for spec in state.agents] == alone
    assert len({f.run for f in alone}) == len(alone)  # each agent its own
