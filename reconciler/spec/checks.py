"""The registry of cross-checks, and the one entry point that runs them."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.errors import Finding
from reconciler.gcpause import gc_paused
from reconciler.spec import crosscheck as c
from reconciler.spec import crosscheck_docs as d
from reconciler.spec import crosscheck_tools as t
from reconciler.spec.state import DesiredState


def with_catalog(check: c.Check) -> c.Check:
    """Runs a check of tool names only when a catalog loaded: without one every name would
    be unknown, and the catalog's own error (missing, or where it fails) is the cause to
    report, not one error per grant, rule and case."""

    def run(ctx: c.Context) -> Iterator[Finding]:
        return check(ctx) if ctx.state.catalogs else iter(())

    run.__name__ = check.__name__
    return run


CHECKS: list[c.Check] = [
    c.folder_matches_name,
    c.unique_agent_names,
    with_catalog(t.granted_tools_exist),
    t.constraints_name_arguments,
    with_catalog(t.forbidden_tools_exist),
    t.grants_not_forbidden,
    with_catalog(t.escalation_tool_available),
    c.model_is_priced,
    c.deploy_environments_defined,
    c.owners_well_formed,
    c.eval_suite_present,
    c.customer_facing_is_guarded,
    d.catalog_present,
    d.catalog_tools_valid,
    d.environments_present,
    d.suites_belong_to_agents,
    d.unique_suite_names,
    with_catalog(d.suite_tools_exist),
    d.suite_cases_reviewed,
    d.labels_match_policies,
]


def cross_check(state: DesiredState) -> list[Finding]:
    ctx = c.Context.of(state)
    return [finding for check in CHECKS for finding in check(ctx)]


def validate(state: DesiredState) -> list[Finding]:
    """Every finding for a loaded state: load errors, then cross-checks, sorted by place."""
    with gc_paused():
        return sorted([*state.findings, *cross_check(state)], key=Finding.sort_key)
