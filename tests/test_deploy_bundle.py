"""Bundles: what goes in, content-addressed revisions (stable across processes, changed by
anything in the content, never by the environment, deployment or pin), the Agent Card."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from reconciler.deploy.bundle import agent_card, build_bundle, desired_bundles
from reconciler.deploy.model import Bundle, Deployment, Pin, revision_of
from reconciler.errors import AlmError
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import ToolCatalog
from reconciler.spec.loader import load_worktree
from reconciler.spec.state import AgentSpec, DesiredState, Loaded, PromptFile
from tests.gitrepo import PROJECT, GitRepo

AGENT = "email-drafting"


@pytest.fixture(scope="module")
def state() -> DesiredState:
    loaded = load_worktree(PROJECT)
    assert not loaded.errors
    return loaded


def _spec(state: DesiredState, name: str = AGENT) -> AgentSpec:
    spec = state.agent(name)
    assert spec is not None
    return spec


def test_desired_bundles_are_the_agents_deployed_there(state: DesiredState) -> None:
    for env in ("dev", "prod"):
        bundles = desired_bundles(state, env)
        expected = sorted(s.name for s in state.agents if env in s.agent.deploy.environments)
        assert list(bundles) == expected and expected
        assert all(b.environment == env and b.agent == n for n, b in bundles.items())
    assert "sales-research" in desired_bundles(state, "dev")
    assert "sales-research" not in desired_bundles(state, "prod")
    assert desired_bundles(state, "nowhere") == {}


def test_content_is_the_resolved_spec(state: DesiredState) -> None:
    spec = _spec(state)
    bundle = build_bundle(spec, state, "prod")
    c = bundle.content
    assert spec.prompt is not None
    assert c["prompt"] == {
        "path": "prompts/system.md", "version": spec.prompt.version, "text": spec.prompt.text,
    }  # fmt: skip
    assert c["model"] == {
        "provider": "openai", "name": "gpt-4.1-mini",
        "params": {"temperature": 0.3, "max_tokens": 1500},
    }  # fmt: skip
    assert c["limits"] == {"max_steps": 8, "max_cost_usd_per_task": 0.06, "timeout_s": 90}
    assert c["runtime"] == {"type": "builtin"}
    assert c["rollout"] == {"strategy": "canary", "canary_percent": 10}
    assert c["contract"]["purpose"] == spec.agent.contract.purpose
    assert c["contract"]["scope"]["in"] == spec.agent.contract.scope.in_
    tools = {t["name"]: t for t in c["tools"]}
    assert list(tools) == sorted(tools)
    assert set(tools) == {g.name for g in spec.agent.grants}
    catalog = state.tools["email.send"]
    send = tools["email.send"]
    assert send["requires_approval"] is True and send["constraints"] == {}
    assert (send["parameters"], send["access"], send["risk"], send["description"]) == (
        catalog.parameters, catalog.access, catalog.risk, catalog.description,
    )  # fmt: skip
    assert tools["human.escalate"]["constraints"] == {
        "team": {"enum": ["customer-success", "legal"]}
    }
    assert tools["crm.get_account"]["requires_approval"] is False
    assert "environments" not in json.dumps(c)  # where it deploys is not what it is
    assert json.loads(bundle.to_json())["revision"] == bundle.revision == revision_of(c)


def test_agent_card(state: DesiredState) -> None:
    spec = _spec(state)
    bundle = build_bundle(spec, state, "prod")
    stored = bundle.content["agent_card"]
    assert "version" not in stored  # the revision hashes the card: see bundle.py
    card = agent_card(bundle)
    assert card["version"] == bundle.revision
    assert card["name"] == AGENT and card["description"] == spec.agent.contract.purpose
    skills = card["skills"]
    assert [s["name"] for s in skills] == spec.agent.contract.scope.in_
    assert len({s["id"] for s in skills}) == len(skills)
    assert all(s["id"] and not s["id"].endswith("-") and s["tags"] for s in skills)
    assert bundle.content["agent_card"] == stored  # serving does not change the bundle


def test_the_same_agent_is_the_same_revision_in_every_environment(state: DesiredState) -> None:
    dev, prod = desired_bundles(state, "dev"), desired_bundles(state, "prod")
    for name, bundle in prod.items():
        assert dev[name].revision == bundle.revision


_REVISIONS = """
import json, sys
from pathlib import Path
from reconciler.deploy.bundle import desired_bundles
from reconciler.spec.loader import load_worktree
state = load_worktree(Path(sys.argv[1]))
print(json.dumps({n: b.revision for n, b in desired_bundles(state, "dev").items()}))
"""


def test_revisions_are_the_same_across_processes(state: DesiredState) -> None:
    here = {n: b.revision for n, b in desired_bundles(state, "dev").items()}
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _REVISIONS, str(PROJECT)],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert json.loads(out) == here, seed


def test_a_reload_from_files_gives_the_same_revisions_and_an_edit_another(
    fleet_repo: GitRepo,
) -> None:
    first = desired_bundles(load_worktree(fleet_repo.path), "prod")
    again = desired_bundles(load_worktree(fleet_repo.path), "prod")
    assert {n: b.revision for n, b in first.items()} == {n: b.revision for n, b in again.items()}
    prompt = f"agents/{AGENT}/prompts/system.md"
    fleet_repo.write(prompt, fleet_repo.read(prompt) + "\nOne more rule.\n")
    edited = desired_bundles(load_worktree(fleet_repo.path), "prod")
    assert {n for n in first if first[n].revision != edited[n].revision} == {AGENT}


# --- anything in the content changes the revision ---------------------------------------


def _with_agent(spec: AgentSpec, path: str, value: Any) -> AgentSpec:
    data = spec.agent.model_dump(mode="json", by_alias=True)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    agent = Agent.model_validate(data)
    return dataclasses.replace(spec, loaded=Loaded(agent, spec.loaded.doc))


def _replace_agent(state: DesiredState, spec: AgentSpec) -> DesiredState:
    agents = [spec if s.name == spec.name else s for s in state.agents]
    return dataclasses.replace(state, agents=agents)


AGENT_EDITS: dict[str, Any] = {
    "metadata.labels": {"domain": "other"},
    "contract.purpose": "Something else entirely.",
    "contract.scope.in.0": "a different skill",
    "contract.success_metrics.task_success_rate": {"min": 0.5},
    "model.name": "gpt-4.1",
    "model.params.temperature": 0.31,
    "limits.max_steps": 9,
    "runtime": {"type": "http", "url": "http://agents.invalid/a"},
    "deploy.rollout": {"strategy": "canary", "canary_percent": 11},
    "tools.4.constraints.team.enum": ["legal"],
    "tools.3.requires_approval": False,
}


@pytest.mark.parametrize("path", sorted(AGENT_EDITS))
def test_an_edit_of_the_spec_changes_the_revision(state: DesiredState, path: str) -> None:
    spec = _spec(state)
    before = build_bundle(spec, state, "prod").revision
    edited = _with_agent(spec, path, AGENT_EDITS[path])
    assert build_bundle(edited, _replace_agent(state, edited), "prod").revision != before


def _with_tool(state: DesiredState, tool: str, **changes: Any) -> DesiredState:
    catalogs = []
    for loaded in state.catalogs:
        tools = [t.model_copy(update=changes) if t.name == tool else t for t in loaded.model.tools]
        model = ToolCatalog.model_validate(
            {**loaded.model.model_dump(by_alias=True), "tools": [t.model_dump() for t in tools]}
        )
        catalogs.append(Loaded(model, loaded.doc))
    return dataclasses.replace(state, catalogs=catalogs)


CATALOG_EDITS: dict[str, dict[str, Any]] = {
    "description": {"description": "Sends it."},
    "risk": {"risk": "critical"},
    "access": {"access": "destructive"},
    "parameters": {"parameters": {"type": "object", "properties": {}}},
}


@pytest.mark.parametrize("what", sorted(CATALOG_EDITS))
def test_an_edit_of_a_granted_tool_changes_the_revision(state: DesiredState, what: str) -> None:
    spec = _spec(state)
    before = build_bundle(spec, state, "prod").revision
    edited = _with_tool(state, "email.send", **CATALOG_EDITS[what])
    assert build_bundle(spec, edited, "prod").revision != before
    ungranted = _with_tool(state, "crm.delete_record", **CATALOG_EDITS[what])
    assert build_bundle(spec, ungranted, "prod").revision == before


def test_an_edit_of_the_prompt_text_changes_the_revision(state: DesiredState) -> None:
    spec = _spec(state)
    assert spec.prompt is not None
    edited = dataclasses.replace(spec, prompt=PromptFile(spec.prompt.path, spec.prompt.text + " "))
    before = build_bundle(spec, state, "prod").revision
    assert build_bundle(edited, state, "prod").revision != before


def test_where_and_who_never_change_the_revision(state: DesiredState) -> None:
    spec = _spec(state)
    bundle = build_bundle(spec, state, "prod")
    moved = _with_agent(spec, "deploy.environments", ["dev"])
    assert build_bundle(moved, state, "staging").revision == bundle.revision
    stamped = bundle.model_copy(
        update={
            "deployment": Deployment(at="2025-01-01T00:00:00Z", by="alice", pull_request=7),
            "pin": Pin(revision="sha256:0", at="t", by="bob"),
        }
    )
    assert stamped.intact and stamped.revision == revision_of(stamped.content)
    reread = Bundle.model_validate(json.loads(stamped.to_json()))
    assert reread.intact and reread.revision == bundle.revision


def test_a_wildcard_grant_covers_its_system_and_an_exact_grant_wins(state: DesiredState) -> None:
    spec = _spec(state)
    tools = spec.agent.model_dump(mode="json", by_alias=True)["tools"]
    wildcard = {"name": "crm.*", "requires_approval": True}
    edited = _with_agent(spec, "tools", [*tools, wildcard])
    got = {t["name"]: t for t in build_bundle(edited, state, "prod").content["tools"]}
    crm = sorted(n for n in state.tools if n.startswith("crm."))
    assert set(crm) <= set(got) and len(crm) > 2
    assert got["crm.get_account"]["grant"] == "crm.get_account"
    assert got["crm.get_account"]["requires_approval"] is False
    assert got["crm.delete_record"]["grant"] == "crm.*"
    assert got["crm.delete_record"]["requires_approval"] is True


def test_a_grant_of_no_catalog_tool_is_refused_with_its_place(state: DesiredState) -> None:
    spec = _spec(state)
    tools = spec.agent.model_dump(mode="json", by_alias=True)["tools"]
    edited = _with_agent(spec, "tools", [*tools[:2], "crm.teleport"])
    with pytest.raises(AlmError) as err:
        build_bundle(edited, state, "prod")
    assert err.value.message.startswith(f"agents/{AGENT}/agent.yaml:")
    assert "crm.teleport names no tool of the catalog" in err.value.message


def test_an_unreadable_prompt_is_refused(state: DesiredState) -> None:
    spec = dataclasses.replace(_spec(state), prompt=None)
    with pytest.raises(AlmError, match=r"system prompt prompts/system\.md cannot be read"):
        build_bundle(spec, state, "prod")
