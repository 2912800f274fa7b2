"""Cross-checks on the shared documents: catalog, environments, eval suites, policy labels."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import lru_cache

from reconciler.errors import Finding, Location
from reconciler.spec import safeschema
from reconciler.spec.crosscheck import Context
from reconciler.spec.evalsuite import Case

CATALOG_FILE = "policies/tools.yaml"


def catalog_present(ctx: Context) -> Iterator[Finding]:
    # a catalog that is there but does not load already has its own error, at its place
    failed = any(f.location.file == CATALOG_FILE for f in ctx.state.errors)
    if not ctx.state.catalogs and not failed:
        yield Finding(
            "missing-catalog",
            "no tool catalog; expected policies/tools.yaml with kind: ToolCatalog",
            Location(CATALOG_FILE),
        )


def catalog_tools_valid(ctx: Context) -> Iterator[Finding]:
    first: dict[str, str] = {}
    for catalog in ctx.state.catalogs:
        for i, tool in enumerate(catalog.model.tools):
            if tool.name in first:
                yield Finding(
                    "duplicate-tool",
                    f"tool {tool.name!r} is already defined in {first[tool.name]}; "
                    "expected each tool once",
                    catalog.at("tools", i, "name"),
                )
            first.setdefault(tool.name, catalog.file)
            for problem in safeschema.problems(tool.parameters):  # never retrieves a $ref
                yield Finding(
                    "bad-json-schema",
                    f"parameters of {tool.name}: {problem.message}",
                    catalog.at("tools", i, "parameters", *problem.path),
                )


def environments_present(ctx: Context) -> Iterator[Finding]:
    envs = ctx.state.environments
    if not envs:
        yield Finding(
            "missing-environments",
            "no environments; expected policies/environments.yaml with kind: Environments",
            Location("policies/environments.yaml"),
        )
    for extra in envs[1:]:
        yield Finding(
            "duplicate-environments",
            f"environments are already defined in {envs[0].file}; expected one "
            "kind: Environments document",
            extra.at("kind"),
        )


def suites_belong_to_agents(ctx: Context) -> Iterator[Finding]:
    agents = ctx.state.agent_folders
    for folder, suites in sorted(ctx.state.suites.items()):
        for suite in suites:
            declared = suite.model.metadata.agent
            if declared is not None and declared != folder:
                yield Finding(
                    "suite-agent-mismatch",
                    f"metadata.agent is {declared!r}; expected the folder name {folder!r}",
                    suite.at("metadata", "agent"),
                )
            elif folder not in agents:
                yield Finding(
                    "orphan-suite",
                    f"eval suite for {folder!r}, but there is no agents/{folder}/agent.yaml; "
                    "expected an agent of that name",
                    suite.at("metadata", "name"),
                    severity="warning",
                )


def unique_suite_names(ctx: Context) -> Iterator[Finding]:
    """Results, cassettes and the base-vs-head pairing key a case by (agent, suite, case id):
    two suites of one name would make `alm eval` stop on a trial that appears twice."""
    for folder, suites in sorted(ctx.state.suites.items()):
        first: dict[str, str] = {}
        for suite in suites:
            name = suite.model.metadata.name
            if name in first:
                yield Finding(
                    "duplicate-suite",
                    f"eval suite name {name!r} is already used by {first[name]}; "
                    f"expected each suite name once in evals/{folder}/",
                    suite.at("metadata", "name"),
                )
            first.setdefault(name, suite.file)


def _case_tools(case: Case) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """(path in the case, what names it, tool) for every tool a case names."""
    for f, fixture in enumerate(case.fixtures):
        yield ("fixtures", f, "tool"), "fixture for", fixture.tool
    for e, call in enumerate(case.expect.tool_calls):
        yield ("expect", "tool_calls", e, "tool"), "expected call to", call.tool
    for e, tool in enumerate(case.expect.forbid_tool_calls):
        yield ("expect", "forbid_tool_calls", e), "forbidden call to", tool


def suite_tools_exist(ctx: Context) -> Iterator[Finding]:
    """Fixture, expected and forbidden tools: a typo would silently disable the check."""
    for suites in ctx.state.suites.values():
        for suite in suites:
            for c, case in enumerate(suite.model.cases):
                for path, what, tool in _case_tools(case):
                    if tool not in ctx.tools:
                        yield Finding(
                            "unknown-tool",
                            f"{what} {tool!r}, which is not in the tool catalog"
                            f"{ctx.suggest(tool)}; expected a catalog tool",
                            suite.at("cases", c, *path),
                        )


def suite_cases_reviewed(ctx: Context) -> Iterator[Finding]:
    """A case `alm ops promote` made from a production trace gates pull requests only once
    a person has agreed to its expectations: an error until the marker is deleted."""
    for suites in ctx.state.suites.values():
        for suite in suites:
            for c, case in enumerate(suite.model.cases):
                if case.needs_review:
                    yield Finding(
                        "case-needs-review",
                        f"case {case.id!r} was promoted from production and is not reviewed; "
                        "expected a person to check its input, fixtures and expect: block, "
                        "then delete `needs_review: true`",
                        suite.at("cases", c, "needs_review", prefer_key=True),
                    )


# the spec itself reads tier: customer-facing (Agent.customer_facing), as a policy would
_SPEC_LABELS: dict[str, set[str]] = {"tier": {"customer-facing"}}


def _matched_labels(ctx: Context) -> dict[str, frozenset[str]]:
    known = {key: set(values) for key, values in _SPEC_LABELS.items()}
    for policy in ctx.state.policies:
        for key, value in policy.model.match.labels.items():
            known.setdefault(key, set()).add(value)
    return {key: frozenset(values) for key, values in known.items()}


@lru_cache(maxsize=4096)  # a fleet repeats the same few labels on every agent
def _near(text: str, known: frozenset[str]) -> str:
    """The known value `text` is most likely a misspelling of, or "" when none is close."""
    folded = {k.lower().replace("_", "-").replace(" ", "-"): k for k in known}
    mine = text.lower().replace("_", "-").replace(" ", "-")
    if mine in folded:
        return folded[mine]
    close = difflib.get_close_matches(mine, list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else ""


def labels_match_policies(ctx: Context) -> Iterator[Finding]:
    """A label a policy matches on, misspelt, silently takes the agent out of that policy.

    Only near misses are reported: `tier: internal` is a value no policy needs to match.
    """
    known = _matched_labels(ctx)
    keys = frozenset(known)
    for spec in ctx.state.agents:
        for key, value in spec.agent.metadata.labels.items():
            if key not in known:
                near_key = _near(key, keys)
                if near_key:
                    yield Finding(
                        "unknown-label",
                        f"label {key!r} is matched by no policy (did you mean {near_key!r}?); "
                        f"expected a label policies match on: {', '.join(sorted(known))}",
                        spec.loaded.at("metadata", "labels", key, prefer_key=True),
                        severity="warning",
                    )
                continue
            near = _near(value, known[key]) if value not in known[key] else ""
            if near:
                yield Finding(
                    "unknown-label-value",
                    f"label {key}: {value!r} is matched by no policy (did you mean {near!r}?); "
                    f"expected one of the values policies match: {', '.join(sorted(known[key]))}",
                    spec.loaded.at("metadata", "labels", key),
                    severity="warning",
                )
