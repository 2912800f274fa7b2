"""Cross-checks on the shared documents: catalog, environments, eval suites."""

from __future__ import annotations

from collections.abc import Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from reconciler.errors import Finding, Location
from reconciler.spec.crosscheck import Context


def catalog_present(ctx: Context) -> Iterator[Finding]:
    if not ctx.state.catalogs:
        yield Finding(
            "missing-catalog",
            "no tool catalog; expected policies/tools.yaml with kind: ToolCatalog",
            Location("policies/tools.yaml"),
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
            try:
                Draft202012Validator.check_schema(tool.parameters)
            except SchemaError as err:
                yield Finding(
                    "bad-json-schema",
                    f"parameters of {tool.name} is not a valid JSON Schema: {err.message}",
                    catalog.at("tools", i, "parameters", *err.absolute_path),
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


def suite_tools_exist(ctx: Context) -> Iterator[Finding]:
    for suites in ctx.state.suites.values():
        for suite in suites:
            for c, case in enumerate(suite.model.cases):
                for f, fixture in enumerate(case.fixtures):
                    if fixture.tool not in ctx.tools:
                        yield Finding(
                            "unknown-tool",
                            f"fixture for {fixture.tool!r}, which is not in the tool catalog; "
                            "expected a catalog tool",
                            suite.at("cases", c, "fixtures", f, "tool"),
                        )
