"""The normalised JSON views of a desired state that the semantic diff compares (pure).

Lists become dicts keyed by name (grants by tool, must-never rules by id, policy
validations and approvals, environments, prices), so that DeepDiff reports an
entry by its name rather than by its position; the prompt's content hash sits
alongside its path, so an edit of the prompt file is a change of the agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from reconciler.spec.state import AgentSpec, DesiredState


def _dump(model: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=False, exclude=exclude)


def _keyed(items: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """A list as a dict, so DeepDiff reports entries by name; repeated keys get a suffix."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in items:
        unique, n = key, 1
        while unique in out:
            n += 1
            unique = f"{key} ({n})"
        out[unique] = value
    return out


def agent_view(spec: AgentSpec) -> dict[str, Any]:
    agent = spec.agent
    data = _dump(agent, exclude={"api_version", "kind", "tools"})
    data["tools"] = {g.name: _dump(g, exclude={"name"}) for g in agent.grants}
    contract = data["contract"]
    contract["must_never"] = _keyed(
        (rule.id, _dump(rule, exclude={"id"})) for rule in agent.contract.must_never
    )
    data["prompt"]["version"] = spec.prompt.version if spec.prompt else None
    return data


def catalog_view(state: DesiredState) -> dict[str, Any]:
    return {name: _dump(tool, exclude={"name"}) for name, tool in state.tools.items()}


def environments_view(state: DesiredState) -> dict[str, Any]:
    envs: dict[str, Any] = {}
    for doc in state.environments:
        for env in doc.model.environments:
            envs.setdefault(env.name, _dump(env, exclude={"name"}))
    return {"order": state.environment_order, "environments": envs}


def policies_view(state: DesiredState) -> dict[str, Any]:
    policies: dict[str, Any] = {}
    for loaded in state.policies:
        policy = loaded.model
        data = _dump(policy, exclude={"api_version", "kind"})
        data["validations"] = _keyed((v.id or v.message, _dump(v)) for v in policy.validations)
        data["approvals"] = _keyed((a.reason, _dump(a)) for a in policy.approvals)
        policies.setdefault(policy.metadata.name, data)
    return policies


def pricing_view(state: DesiredState) -> dict[str, Any]:
    return {
        f"{m.provider}/{m.name}": _dump(m, exclude={"provider", "name"})
        for loaded in state.pricing
        for m in loaded.model.models
    }
