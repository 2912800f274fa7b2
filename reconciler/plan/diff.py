"""The semantic diff of the desired state between two loaded states (pure).

Each side is first turned into a normalised JSON view (reconciler.plan.state_views:
grants keyed by tool name, must-never rules by id, environments, policies and
prices by name, the prompt's content hash alongside its path), DeepDiff finds
what differs, a change inside a list is reported on the whole list, and the
phrase tables in reconciler.plan.phrases turn every difference into a sentence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from deepdiff import DeepDiff

from reconciler.plan.phrases import (
    AGENT_PHRASES,
    CATALOG_PHRASES,
    ENVIRONMENT_PHRASES,
    POLICY_PHRASES,
    PRICING_PHRASES,
)
from reconciler.plan.phrasing import (
    MISSING,
    Change,
    Context,
    Edit,
    PathKey,
    Registry,
    describe,
    tool_info,
)
from reconciler.plan.state_views import (
    agent_view,
    catalog_view,
    environments_view,
    policies_view,
    pricing_view,
)
from reconciler.spec.state import AgentSpec, DesiredState
from reconciler.wording import plural

SCHEMA_VERSION = 1
AGENT_SECTIONS = ("metadata", "model", "prompt", "tools", "contract", "limits", "runtime", "deploy")
SECTIONS = ("catalog", "environments", "policies", "pricing")


@dataclass(frozen=True)
class Side:
    label: str
    errors: int


@dataclass(frozen=True)
class AgentDiff:
    name: str
    status: Literal["added", "removed", "changed", "invalid"]
    changes: tuple[Change, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class StateDiff:
    """Everything that differs between base and head, agent by agent and section by section."""

    base: Side
    head: Side
    agents: tuple[AgentDiff, ...] = ()
    catalog: tuple[Change, ...] = ()
    environments: tuple[Change, ...] = ()
    policies: tuple[Change, ...] = ()
    pricing: tuple[Change, ...] = ()

    @property
    def sections(self) -> dict[str, tuple[Change, ...]]:
        return {name: getattr(self, name) for name in SECTIONS}

    @property
    def count(self) -> int:
        return sum(len(a.changes) for a in self.agents) + sum(map(len, self.sections.values()))

    @property
    def empty(self) -> bool:
        return self.count == 0

    def agent(self, name: str) -> AgentDiff | None:
        return next((a for a in self.agents if a.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "base": {"label": self.base.label, "errors": self.base.errors},
            "head": {"label": self.head.label, "errors": self.head.errors},
            "changes": self.count,
            "agents": [a.to_dict() for a in self.agents],
            **{name: [c.to_dict() for c in changes] for name, changes in self.sections.items()},
        }


# --- differences ----------------------------------------------------------------


def _get(tree: Any, path: Iterable[PathKey]) -> Any:
    for key in path:
        in_dict = isinstance(tree, dict) and key in tree
        in_list = isinstance(tree, list) and isinstance(key, int) and 0 <= key < len(tree)
        if not (in_dict or in_list):
            return MISSING
        tree = tree[key]
    return tree


def _collapse(path: list[PathKey], before: Any, after: Any) -> tuple[PathKey, ...]:
    """Cut a path at the first list: a list changes as a whole."""
    for i in range(len(path)):
        prefix = path[:i]
        if isinstance(_get(before, prefix), list) or isinstance(_get(after, prefix), list):
            return tuple(prefix)
    return tuple(path)


def _identical(before: Any, after: Any) -> bool:
    """Equal as JSON (so true and 1 still differ): most agents of a change are unchanged,
    and DeepDiff takes ~50 ms to say so of one agent's view."""
    try:
        return json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)
    except (TypeError, ValueError):  # not plain JSON: DeepDiff decides
        return False


def _by_key(path: tuple[PathKey, ...], before: Any, after: Any) -> list[tuple[PathKey, ...]]:
    """A mapping whose keys were all replaced, key by key. DeepDiff reports such a mapping
    as one changed value (an agent's only grant renamed: `tools: {a: ..} → {b: ..}`), which
    no phrase names; keyed by tool, rule or environment, each key is its own change."""
    old, new = _get(before, path), _get(after, path)
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [path]
    keys = [*old, *(k for k in new if k not in old)]
    return [
        deeper
        for key in keys
        if not _identical(old.get(key, MISSING), new.get(key, MISSING))
        for deeper in _by_key((*path, key), before, after)
    ]


def edits(before: Any, after: Any) -> list[Edit]:
    """Every difference DeepDiff finds, one edit per path (lists whole), in its order."""
    if _identical(before, after):
        return []
    tree = DeepDiff(before, after, view="tree", ignore_numeric_type_changes=True)
    paths: dict[tuple[PathKey, ...], None] = {}
    for levels in tree.values():
        for level in levels:
            path = _collapse(level.path(output_format="list"), before, after)
            paths.update(dict.fromkeys(_by_key(path, before, after)))
    return [Edit(p, _get(before, p), _get(after, p)) for p in paths]


def _path_key(path: tuple[PathKey, ...]) -> tuple[str, ...]:
    return tuple(str(p) for p in path)


def _agent_key(path: tuple[PathKey, ...]) -> tuple[int, tuple[str, ...]]:
    first = str(path[0]) if path else ""
    rank = AGENT_SECTIONS.index(first) if first in AGENT_SECTIONS else len(AGENT_SECTIONS)
    return rank, _path_key(path)


def changes_between(
    registry: Registry,
    ctx: Context,
    before: Any,
    after: Any,
    order: Callable[[tuple[PathKey, ...]], Any] = _path_key,
) -> tuple[Change, ...]:
    """Phrase every difference between two views with a registry."""
    found = sorted(edits(before, after), key=lambda e: order(e.path))
    return tuple(describe(registry, ctx, e) for e in found)


def _covers(grant: str, tool: str) -> bool:
    return grant == tool or (grant.endswith(".*") and tool.startswith(grant[:-1]))


def holders(tool: str, *states: DesiredState) -> tuple[str, ...]:
    """The agents that hold a grant covering a tool, on any of the given sides."""
    return tuple(
        sorted(
            {
                spec.name
                for state in states
                for spec in state.agents
                if any(_covers(g.name, tool) for g in spec.agent.grants)
            }
        )
    )


def _agent_added(spec: AgentSpec, ctx: Context) -> Change:
    agent = spec.agent
    grants = agent.grants
    text = f"agent added: {spec.name} (model {agent.model.name}, {plural(len(grants), 'tool')})"
    detail = "\n".join(f"tool {g.name} ({tool_info(g.name, ctx.head_tools)})" for g in grants)
    return Change("agent.added", text, (), MISSING, agent_view(spec), detail or None)


def _folder_errors(state: DesiredState, name: str) -> int:
    return sum(f.location.file.startswith(f"agents/{name}/") for f in state.errors)


def _not_loaded(name: str, which: str, errors: int) -> AgentDiff:
    text = (
        f"agent {name} not compared: it does not load in {which} "
        f"({errors} {'error' if errors == 1 else 'errors'} in agents/{name}/)"
    )
    return AgentDiff(name, "invalid", (Change("agent.invalid", text),))


def _agent_diff(
    name: str, base: DesiredState, head: DesiredState, ctx: Context
) -> AgentDiff | None:
    old, new = base.agent(name), head.agent(name)
    if new is None and old is not None:
        if errors := _folder_errors(head, name):
            return _not_loaded(name, "head", errors)
        removed = Change("agent.removed", f"agent removed: {name}", (), agent_view(old), MISSING)
        return AgentDiff(name, "removed", (removed,))
    if old is None and new is not None:
        if errors := _folder_errors(base, name):
            return _not_loaded(name, "base", errors)
        return AgentDiff(name, "added", (_agent_added(new, ctx),))
    assert old is not None and new is not None
    return _agent_changed(name, old, new, ctx)


def _agent_changed(name: str, base: AgentSpec, head: AgentSpec, ctx: Context) -> AgentDiff | None:
    ctx = replace(ctx, base_prompt=base.prompt, head_prompt=head.prompt)
    found = changes_between(AGENT_PHRASES, ctx, agent_view(base), agent_view(head), _agent_key)
    return AgentDiff(name, "changed", found) if found else None


def _agents(base: DesiredState, head: DesiredState, ctx: Context) -> tuple[AgentDiff, ...]:
    names = sorted({a.name for a in base.agents} | {a.name for a in head.agents})
    diffs = (_agent_diff(n, base, head, ctx) for n in names)
    return tuple(d for d in diffs if d is not None)


def _catalog_holders(change: Change, base: DesiredState, head: DesiredState) -> tuple[str, ...]:
    return holders(str(change.path[0]), base, head) if change.path else ()


def _with_affects(change: Change, affects: tuple[str, ...]) -> Change:
    if not affects:
        return change
    return replace(change, text=f"{change.text} (affects: {', '.join(affects)})", affects=affects)


def diff_states(base: DesiredState, head: DesiredState) -> StateDiff:
    """The semantic diff from base to head; what failed to load on a side is simply absent."""
    ctx = Context(base.tools, head.tools)
    catalog = changes_between(CATALOG_PHRASES, ctx, catalog_view(base), catalog_view(head))
    return StateDiff(
        base=Side(base.label, len(base.errors)),
        head=Side(head.label, len(head.errors)),
        agents=_agents(base, head, ctx),
        catalog=tuple(_with_affects(c, _catalog_holders(c, base, head)) for c in catalog),
        environments=changes_between(
            ENVIRONMENT_PHRASES, ctx, environments_view(base), environments_view(head)
        ),
        policies=changes_between(POLICY_PHRASES, ctx, policies_view(base), policies_view(head)),
        pricing=changes_between(PRICING_PHRASES, ctx, pricing_view(base), pricing_view(head)),
    )
