"""The benchmark's synthetic fleet is valid, so `make bench` never measures a broken fleet."""

from __future__ import annotations

import math
from pathlib import Path

from bench.fleet import (
    BASE_TAG,
    HEAD_CHANGE_SHARE,
    HEAD_TAG,
    cached_fleet,
    commit_fleet,
    git,
    plan_agents,
    render_agent,
)
from reconciler.spec.checks import validate
from reconciler.spec.loader import load_ref
from reconciler.spec.state import DesiredState

AGENTS = 20
GRANTS = 5


def _fingerprints(state: DesiredState) -> dict[str, tuple[str, str]]:
    return {
        a.name: (a.agent.model_dump_json(), a.prompt.version if a.prompt else "")
        for a in state.agents
    }


def test_fleet_validates_and_head_changes_five_percent(tmp_path: Path) -> None:
    fleet_root = tmp_path / "repo"
    fleet = commit_fleet(fleet_root, AGENTS, GRANTS, pack=False)
    base = load_ref(fleet_root, BASE_TAG)
    head = load_ref(fleet_root, "HEAD")

    assert validate(base) == []
    assert validate(head) == []
    assert len(base.agents) == len(head.agents) == AGENTS
    assert all(len(a.agent.tools) == GRANTS for a in base.agents)
    assert len(base.catalogs[0].model.tools) >= 60
    assert set(base.suites) == {a.folder for a in base.agents}
    assert all(2 <= len(s[0].model.cases) <= 3 for s in base.suites.values())

    expected = max(1, math.ceil(AGENTS * HEAD_CHANGE_SHARE))
    before, after = _fingerprints(base), _fingerprints(head)
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == sorted(fleet.changed)
    assert len(changed) == expected
    assert (
        git(fleet_root, "rev-parse", HEAD_TAG) == fleet.head == git(fleet_root, "rev-parse", "HEAD")
    )


def test_head_changes_cover_model_grant_and_prompt(tmp_path: Path) -> None:
    fleet = commit_fleet(tmp_path / "repo", 41, GRANTS, pack=False)  # 3 changes, one of each kind
    base, head = load_ref(fleet.root, BASE_TAG), load_ref(fleet.root, HEAD_TAG)
    assert validate(head) == []
    kinds = set()
    for name in fleet.changed:
        old, new = base.agent(name), head.agent(name)
        assert old is not None and new is not None
        if old.agent.model.name != new.agent.model.name:
            kinds.add("model")
        if len(new.agent.tools) == len(old.agent.tools) + 1:
            kinds.add("grant")
        if old.prompt and new.prompt and old.prompt.version != new.prompt.version:
            kinds.add("prompt")
    assert kinds == {"model", "grant", "prompt"}


def test_agent_files_have_a_realistic_size() -> None:
    _tools, plans = plan_agents(10, 20)
    lengths = [render_agent(plan).count("\n") for plan in plans]
    assert all(70 <= n <= 110 for n in lengths), lengths


def test_cached_fleet_is_reused(tmp_path: Path) -> None:
    first, reused = cached_fleet(tmp_path, 4, 3)
    assert not reused
    again, reused = cached_fleet(tmp_path, 4, 3)
    assert reused and again == first
