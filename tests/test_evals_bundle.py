"""Fingerprints: the same hashes whether a state's shared parts are computed once for
every agent (Shared) or again for each, and each agent's own. (What a change affects:
tests/test_plan_build.py and tests/test_cli_diff.py.)"""

from __future__ import annotations

from reconciler.evals.bundle import Shared, fingerprint
from reconciler.evals.sandbox import granted_tools
from reconciler.evals.types import sha256_of
from reconciler.spec.loader import load_worktree
from reconciler.spec.state import AgentSpec, DesiredState
from tests.gitrepo import GitRepo


def test_hashes_from_a_shared_state_are_the_hashes_made_alone(fleet_repo: GitRepo) -> None:
    state = load_worktree(fleet_repo.path, {})
    shared = Shared(state)
    alone = [fingerprint(spec, state) for spec in state.agents]
    assert [fingerprint(spec, state, shared) for spec in state.agents] == alone
    assert len({f.run for f in alone}) == len(alone)  # each agent its own


def _reference(spec: AgentSpec, state: DesiredState) -> tuple[str, str]:
    """The run and policy hashes as the plain definition gives them: sha256 of the whole
    canonical JSON, every part dumped for this agent alone."""
    dump = lambda value: value.model_dump(mode="json", by_alias=True)  # noqa: E731
    tools = {t.name: t for t in granted_tools(spec.agent, state.tools)}
    model = spec.agent.model
    prices = [
        dump(price)
        for doc in state.pricing
        for price in doc.model.models
        if (price.provider, price.name) == (model.provider, model.name)
    ]
    run = sha256_of(
        {
            "agent": dump(spec.agent),
            "prompt": spec.prompt.text if spec.prompt else None,
            "tools": {name: dump(tool) for name, tool in sorted(tools.items())},
            "prices": prices,
        }
    )
    labels = spec.agent.metadata.labels
    policies = [
        dump(p.model)
        for p in state.policies
        if all(labels.get(k) == v for k, v in p.model.match.labels.items())
    ]
    return run, sha256_of(policies)


def test_hashes_are_the_canonical_json_of_the_plain_definition(fleet_repo: GitRepo) -> None:
    """The run hash is assembled from each tool's JSON made once, and policy hashes are
    kept per set of policies: both must stay the hash of the whole canonical JSON (they
    key the result cache). Non-ASCII text and a price override are in the mix."""
    fleet_repo.replace(
        "agents/email-drafting/agent.yaml", "description: Drafts", "description: Rédige «» — drafts"
    )
    fleet_repo.write(
        "policies/pricing.yaml",
        "apiVersion: alm/v1\nkind: Pricing\nmodels:\n"
        "  - {provider: openai, name: gpt-4.1-mini, input_usd_per_mtok: 0.5,"
        " output_usd_per_mtok: 1.5}\n",
    )
    state = load_worktree(fleet_repo.path, {})
    assert state.findings == [] and state.pricing
    shared = Shared(state)
    for spec in state.agents:
        found = fingerprint(spec, state, shared)
        assert (found.run, found.policies) == _reference(spec, state)
