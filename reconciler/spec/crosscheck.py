"""Checks that span documents: each returns findings with file:line:col.

The Context every check gets, and the agent-level checks; tool grants are checked in
crosscheck_tools, the shared documents in crosscheck_docs. Add a check by writing a
function and listing it in CHECKS (spec/checks.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

from reconciler.errors import Finding, Location
from reconciler.pricing import PriceBook
from reconciler.spec import safeschema
from reconciler.spec.agent import grant_covers
from reconciler.spec.base import OWNER_RE
from reconciler.spec.catalog import Tool
from reconciler.spec.state import AgentSpec, DesiredState


@dataclass(frozen=True)
class Context:
    state: DesiredState
    tools: dict[str, Tool]
    environments: set[str]
    prices: PriceBook
    # the caches below serve the constraint checks in crosscheck_tools
    _validators: dict[str, safeschema.SafeValidator | None] = field(
        default_factory=dict, compare=False
    )
    # (tool, argument) -> its validator; (tool, argument, value as JSON) -> valid: thousands
    # of grants constrain a few arguments to the same few values
    _arguments: dict[tuple[str, str], safeschema.SafeValidator | None] = field(
        default_factory=dict, compare=False
    )
    _valid: dict[tuple[str, str, str], bool] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, state: DesiredState) -> Context:
        overrides = [m for p in state.pricing for m in p.model.models]
        return cls(state, state.tools, set(state.environment_order), PriceBook(overrides))

    def suggest(self, name: str) -> str:
        return did_you_mean(name, self.tools)

    def matching_tools(self, grant: str) -> list[str]:
        if grant.endswith(".*"):
            return [t for t in self.tools if grant_covers(grant, t)]
        return [grant] if grant in self.tools else []


Check = Callable[[Context], Iterator[Finding]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _agents(ctx: Context) -> Iterator[AgentSpec]:
    return iter(ctx.state.agents)


def folder_matches_name(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        if spec.name != spec.folder:
            yield Finding(
                "name-mismatch",
                f"metadata.name is {spec.name!r}; expected the folder name {spec.folder!r}",
                spec.loaded.at("metadata", "name"),
            )


def unique_agent_names(ctx: Context) -> Iterator[Finding]:
    first: dict[str, AgentSpec] = {}
    # an agent in its own folder holds the name: the copy whose folder differs is the one
    # to fix (a copied folder sorts before its original as often as after it)
    for spec in sorted(_agents(ctx), key=lambda s: s.name != s.folder):
        if spec.name in first:
            yield Finding(
                "duplicate-agent",
                f"agent name {spec.name!r} is already used by {first[spec.name].loaded.file}; "
                "expected each agent name once",
                spec.loaded.at("metadata", "name"),
            )
        first.setdefault(spec.name, spec)


def model_is_priced(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        model = spec.agent.model
        if not ctx.prices.known(model.provider, model.name):
            yield Finding(
                "unknown-model",
                f"model {model.provider}/{model.name} has no price in the bundled price data"
                f"{_model_hint(ctx.prices, model.provider, model.name)}; "
                "expected a known model or a kind: Pricing override in policies/",
                spec.loaded.at("model", "name"),
            )


def _model_hint(prices: PriceBook, provider: str, name: str) -> str:
    """The closest priced model of the provider; the closest provider when it has none."""
    names = prices.model_names(provider)
    if names:
        return did_you_mean(name, names)
    close = difflib.get_close_matches(provider, prices.provider_names(), n=1)
    return f" (did you mean provider {close[0]!r}?)" if close else ""


def deploy_environments_defined(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        for k, env in enumerate(spec.agent.deploy.environments):
            if env not in ctx.environments:
                known = ", ".join(ctx.state.environment_order) or "(none defined)"
                yield Finding(
                    "unknown-environment",
                    f"environment {env!r} is not defined; expected one of: {known}",
                    spec.loaded.at("deploy", "environments", k),
                )


def _bad_owners(owners: list[str], where: Callable[[int], Location]) -> Iterator[Finding]:
    for k, owner in enumerate(owners):
        if not OWNER_RE.fullmatch(owner):  # match() would accept "@user\n"
            yield Finding(
                "bad-owner",
                f"owner {owner!r} is not a GitHub handle; expected @user or @org/team",
                where(k),
            )


def owners_well_formed(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        yield from _bad_owners(
            spec.agent.metadata.owners, partial(spec.loaded.at, "metadata", "owners")
        )
    for policy in ctx.state.policies:
        yield from _bad_owners(
            policy.model.metadata.owners, partial(policy.at, "metadata", "owners")
        )
    for catalog in ctx.state.catalogs:
        for i, tool in enumerate(catalog.model.tools):
            yield from _bad_owners(tool.approvers, partial(catalog.at, "tools", i, "approvers"))


def eval_suite_present(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        if spec.folder not in ctx.state.eval_folders:
            yield Finding(
                "missing-evals",
                f"agent {spec.name!r} has no eval suite; expected evals/{spec.folder}/ "
                "with at least one kind: EvalSuite file",
                spec.loaded.at("metadata", "name"),
            )


def customer_facing_is_guarded(ctx: Context) -> Iterator[Finding]:
    for spec in _agents(ctx):
        contract = spec.agent.contract
        if not spec.agent.customer_facing:
            continue
        if contract.escalation is None:
            yield Finding(
                "customer-facing-unguarded",
                "customer-facing agent has no escalation path; expected contract.escalation",
                spec.loaded.at("contract", prefer_key=True),
            )
        if not contract.must_never:
            yield Finding(
                "customer-facing-unguarded",
                "customer-facing agent has no must_never rules; expected contract.must_never",
                spec.loaded.at("contract", prefer_key=True),
            )
