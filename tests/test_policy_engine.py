"""Compiling and running policies: bad policies, run-time failures, projection, new violations."""

from __future__ import annotations

from typing import Any

import cel
import pytest

from reconciler.policy.compiler import compile_policies
from reconciler.policy.needs import project
from reconciler.policy.views import Catalog, agent_view
from reconciler.spec.loader import load_worktree
from reconciler.spec.state import DesiredState
from tests.gitrepo import GitRepo
from tests.test_policy_fleet import check_json, fired, governed

__all__ = ["governed"]

POLICY = """\
apiVersion: alm/v1
kind: Policy
metadata: {{name: probe, owners: ["@acme/platform"]}}
match: {{kinds: [{kind}]}}
validations:
  - id: probe
    expression: "{expression}"
    message: the probe failed
"""


def probe(repo: GitRepo, expression: str, kind: str = "Agent") -> None:
    repo.write("policies/probe.yaml", POLICY.format(expression=expression, kind=kind))


def bad_policies(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in data["violations"] if v["kind"] == "bad-policy"]


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("object.tools.all(t, t.name.", "CEL syntax error at line 1, column 28"),
        ("object.tols.size() > 0", "no field 'tols' in object; expected one of: apiVersion"),
        ("object.tools.all(t, t.acess == 'read')", "no field 'acess' in object.tools[]"),
        ("object.contract.scope.inn.size() > 0", "no field 'inn' in object.contract.scope"),
        ("oldObject == null || oldObject.limit.max_steps > 1", "no field 'limit' in oldObject"),
        ("catalog.exists(n, catalog[n].acces == 'x')", "no field 'acces' in catalog[]"),
        ("object.metadata.name", "returns string; expected a boolean"),
        ("size(object.tools)", "returns int; expected a boolean"),
        ("has(object.contract.escalation)", "is always true"),
        ("lower(object.metadata.name) == 'x'", "unknown function 'lower'"),
        ("objekt.metadata.name == 'x'", "unknown variable 'objekt'"),
        ("object.metadata.name && true", "operand is a string; expected a boolean"),
    ],
)
def test_a_bad_policy_is_an_error_at_its_expression(
    governed: GitRepo, capsys: pytest.CaptureFixture[str], expression: str, says: str
) -> None:
    probe(governed, expression)
    code, data = check_json(governed, capsys)
    assert code == 1
    (bad,) = bad_policies(data)
    assert says in bad["message"], bad["message"]
    assert (bad["file"], bad["line"], bad["column"]) == ("policies/probe.yaml", 7, 17)
    assert bad["severity"] == "error" and bad["policy"] is None


@pytest.mark.parametrize(
    "expression",
    [
        "object.tools.exists(t, t.name.startsWith('crm.')) || true",
        "'tier' in object.metadata.labels || object.metadata.labels.size() == 0",
        "has(object.metadata.labels.tier) || true",
        "object.tools.map(t, t.risk).exists(r, r == 'critical') || true",
        "object.tools.filter(t, t.access == 'write').all(t, t.known)",
        "{'a': [1, 2]}['a'].size() == 2 && object.limits.max_steps > 0",
        "environment == null ? true : environment in ['dev', 'staging', 'prod']",
        "object.derived.data_classes.all(c, c != '')",
        "object.contract.success_metrics.task_success_rate == null || "
        "object.contract.success_metrics.task_success_rate.min >= 0.5",
        "type(object.limits.max_steps) == int",
    ],
)
def test_valid_expressions_are_accepted(
    governed: GitRepo, capsys: pytest.CaptureFixture[str], expression: str
) -> None:
    probe(governed, expression)
    code, data = check_json(governed, capsys)
    assert (code, data["violations"]) == (0, [])


def test_a_change_policy_sees_no_object(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    probe(governed, "object.metadata.name == 'x'", kind="Change")
    _, data = check_json(governed, capsys)
    (bad,) = bad_policies(data)
    assert "unknown variable 'object'; expected one of: catalog, changes" in bad["message"]


def test_a_non_boolean_result_found_at_run_time_is_reported_once(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    probe(governed, "dyn(object.metadata.name)")
    code, data = check_json(governed, capsys)
    assert code == 1
    (bad,) = data["violations"]
    assert bad["kind"] == "bad-policy" and "returned str; expected a boolean" in bad["message"]
    assert bad["file"] == "policies/probe.yaml"


def test_a_run_time_failure_on_one_agent_is_reported_against_it(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = governed.read("agents/sales-research/agent.yaml")
    start = text.index("  escalation:\n")
    governed.write(
        "agents/sales-research/agent.yaml", text[:start] + text[text.index("  data_classes:") :]
    )
    probe(governed, "object.contract.escalation.tool == 'human.escalate'")
    code, data = check_json(governed, capsys)
    assert code == 1  # a failed evaluation is never a pass
    (failure,) = data["violations"]
    assert failure["kind"] == "runtime-error" and failure["agent"] == "sales-research"
    assert failure["rule"] == "probe/probe" and failure["policy_file"] == "policies/probe.yaml"
    assert failure["file"] == "agents/sales-research/agent.yaml" and failure["line"] > 0


def test_duplicate_policy_names_and_bad_approvers_are_errors(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    probe(governed, "true")
    governed.write(
        "policies/probe2.yaml",
        POLICY.format(expression="true", kind="Agent")
        + "approvals:\n  - when: 'true'\n    from: [security-team]\n    reason: r\n",
    )
    _, data = check_json(governed, capsys)
    messages = [v["message"] for v in bad_policies(data)]
    assert any("policy name 'probe' is already used in policies/probe.yaml" in m for m in messages)
    governed.write(
        "policies/probe2.yaml",
        POLICY.format(expression="true", kind="Agent").replace("name: probe", "name: probe2")
        + "approvals:\n  - when: 'true'\n    from: [security-team]\n    reason: r\n",
    )
    _, data = check_json(governed, capsys)
    assert any(
        "security-team are not @user or @org/team" in v["message"] for v in bad_policies(data)
    )


def test_an_agent_that_does_not_load_fails_the_check(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace("agents/sales-research/agent.yaml", "max_steps: 10", "max_stepz: 10")
    code, data = check_json(governed, capsys)
    assert code == 1
    assert [v["kind"] for v in data["violations"]] == ["load-error"]


def test_violations_are_marked_new_or_pre_existing(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    triage = "agents/support-triage/agent.yaml"
    governed.replace(triage, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 1.5")
    base = governed.commit("an old violation")
    governed.replace(triage, "  name: gpt-4.1-mini\n", "  name: gpt-4o-mini\n")
    governed.replace(
        "agents/sales-research/agent.yaml",
        "max_cost_usd_per_task: 0.03",
        "max_cost_usd_per_task: 2",
    )
    governed.commit("two new violations")
    _, data = check_json(governed, capsys, "--base", base)
    new = {(v["rule"], v["agent"]): v["new"] for v in data["violations"]}
    assert new == {
        ("cost/ceiling-per-task", "support-triage"): False,
        ("models/model-allowed", "support-triage"): True,
        ("cost/ceiling-per-task", "sales-research"): True,
    }
    assert data["summary"]["new_errors"] == 2


def test_a_new_agent_is_new_everywhere(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    text = governed.read("agents/sales-research/agent.yaml")
    governed.write(
        "agents/sales-copy/agent.yaml",
        text.replace("name: sales-research", "name: sales-copy").replace(
            "max_cost_usd_per_task: 0.03", "max_cost_usd_per_task: 3"
        ),
    )
    governed.write("agents/sales-copy/prompts/system.md", "You research.\n")
    governed.commit("a new agent")
    _, data = check_json(governed, capsys, "--base", base)
    assert fired(data) == {("cost/ceiling-per-task", "sales-copy", None)}
    assert data["violations"][0]["new"] is True
    # nobody owns the new folder on the base: the governance owners do
    owners = next(a for a in data["approvals"] if "agents/sales-copy/agent.yaml" in a["files"])
    assert owners["from"] == ["@acme/platform"] and owners["source"] == "codeowners"


# --- projection: expressions see only what they read, with the same results ----------

TRICKY = [
    "object.tools.exists(t, t.name == 'crm.get_account')",
    "size(object.tools) > 5",
    "object.metadata.labels.tier == 'customer-facing'",
    "'tier' in object.metadata.labels",
    "object == oldObject",
    "object.tools.map(t, t.name).size() > 1",
    "object.tools.filter(t, t.access == 'write').all(t, t.requires_approval)",
    "object.contract.escalation != null",
    "object.derived.data_classes.exists(c, c == 'pii')",
    "oldObject != null && oldObject.limits.max_steps <= object.limits.max_steps",
    "object.tools[0].name.startsWith('t')",
    "{'a': object.model.name}['a'] == 'gpt-4.1'",
    "object.contract.must_never.exists(r, size(r.forbid_tools) > 0)",
    "has(object.metadata.labels.tier)",
    "object.contract.must_never.all(r, r.id != '')",
    "object.tools.exists(t, t.constraints.size() > 0)",
    "object.tools.exists(t, 'queue' in t.constraints)",
    "object.tools.all(t, catalog[t.name].risk != 'critical' || t.requires_approval)",
    "catalog.exists(n, catalog[n].access == 'destructive')",
    "object.deploy.rollout.canary_percent == null || object.deploy.rollout.canary_percent < 50",
]


def _states(repo: GitRepo) -> DesiredState:
    state = load_worktree(repo.path)
    assert state.agents
    return state


def test_projection_keeps_every_result(governed: GitRepo) -> None:
    state = _states(governed)
    for expression in TRICKY:
        probe(governed, expression)
        compiled = compile_policies(load_worktree(governed.path).policies)
        assert compiled.findings == [], (expression, compiled.findings)
        catalog = Catalog(state.tools)
        program = cel.compile(expression)
        for approvals in (False, True):
            need = compiled.need("object", approvals)
            catalog_need = compiled.need("catalog", approvals)
            for spec in state.agents:
                view = agent_view(spec, catalog)
                full = {"object": view, "oldObject": view, "catalog": catalog.view()}
                part = {
                    "object": project(view, need),
                    "oldObject": project(view, need),
                    "catalog": project(catalog.view(), catalog_need),
                }
                expected = program.execute(full)
                assert program.execute(part) == expected, (expression, spec.name)
