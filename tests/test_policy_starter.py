"""Every rule of the starter policy set, shown firing and not firing on edited copies."""

from __future__ import annotations

import pytest

from tests.gitrepo import GitRepo
from tests.test_policy_fleet import approvals, check_json, fired, governed

__all__ = ["governed"]  # the fixture, imported for these tests

TRIAGE = "agents/support-triage/agent.yaml"
INVOICE = "agents/invoice-processing/agent.yaml"
EMAIL = "agents/email-drafting/agent.yaml"
SALES = "agents/sales-research/agent.yaml"


def cut(repo: GitRepo, rel: str, first: str, following: str) -> None:
    """Delete from the line `first` up to (not including) the line `following`."""
    text = repo.read(rel)
    start = text.index(first)
    end = text.index(following, start)
    repo.write(rel, text[:start] + text[end:])


def head_violations(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> set[tuple[str, str | None, str | None]]:
    _, data = check_json(repo, capsys)
    return fired(data)


# --- least privilege ------------------------------------------------------------------


def test_wildcard_grant_fires(governed: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    governed.replace(
        SALES, "  - crm.search_contacts\n", "  - crm.search_contacts\n  - research.*\n"
    )
    code, data = check_json(governed, capsys)
    assert code == 1
    assert ("least-privilege/no-wildcard-grants", "sales-research", None) in fired(data)


def test_named_grants_do_not_fire_the_wildcard_rule(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(SALES, "  - crm.search_contacts\n", "  - crm.search_contacts\n  - docs.x\n")
    rules = {rule for rule, _, _ in head_violations(governed, capsys)}
    assert "least-privilege/no-wildcard-grants" not in rules


def test_destructive_tool_in_prod_without_approval_step_fires(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(INVOICE, "    requires_approval: true\n", "")
    code, data = check_json(governed, capsys)
    assert code == 1
    assert ("least-privilege/destructive-needs-approval-step", "invoice-processing", None) in fired(
        data
    )
    violation = next(v for v in data["violations"] if v["agent"] == "invoice-processing")
    assert violation["file"] == INVOICE and violation["line"] > 0


def test_destructive_tool_outside_prod_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(INVOICE, "    requires_approval: true\n", "")
    governed.replace(INVOICE, "environments: [dev, staging, prod]", "environments: [dev, staging]")
    assert head_violations(governed, capsys) == set()


def test_destructive_tool_with_approval_step_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert head_violations(governed, capsys) == set()  # erp.post_payment: requires_approval


def test_new_high_risk_write_grant_needs_security(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace(
        TRIAGE, "  - crm.search_contacts\n", "  - crm.search_contacts\n  - crm.update_record\n"
    )
    governed.commit("grant a CRM write")
    _, data = check_json(governed, capsys, "--base", base)
    wanted = approvals(data)["policy:least-privilege/approvals[0]"]
    assert wanted["from"] == ["@acme/security"] and wanted["agents"] == ["support-triage"]


def test_new_read_grant_needs_no_security_approval(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace(
        SALES,
        "  - crm.search_contacts\n",
        "  - crm.search_contacts\n  - billing.get_subscription\n",
    )
    governed.commit("grant a read tool")
    _, data = check_json(governed, capsys, "--base", base)
    assert "policy:least-privilege/approvals[0]" not in approvals(data)


# --- customer-facing agents -----------------------------------------------------------


def test_customer_facing_without_escalation_fires(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    cut(governed, EMAIL, "  escalation:\n", "  data_classes:")
    assert head_violations(governed, capsys) == {
        ("customer-facing/has-escalation", "email-drafting", None)
    }


def test_internal_agent_without_escalation_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    cut(governed, SALES, "  escalation:\n", "  data_classes:")
    assert head_violations(governed, capsys) == set()


def test_customer_facing_without_must_never_fires(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    cut(governed, EMAIL, "  must_never:\n", "  escalation:\n")
    assert head_violations(governed, capsys) == {
        ("customer-facing/has-must-never-rules", "email-drafting", None)
    }


def test_internal_agent_without_must_never_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    cut(governed, SALES, "  must_never:\n", "  escalation:\n")
    assert head_violations(governed, capsys) == set()


# --- model allow-list per environment -------------------------------------------------


def test_model_not_allowed_in_prod_fires_for_prod_only(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "  name: gpt-4.1-mini\n", "  name: gpt-4o-mini\n")
    code, data = check_json(governed, capsys)
    assert code == 1
    assert fired(data) == {("models/model-allowed", "support-triage", "prod")}
    violation = data["violations"][0]
    assert violation["message"].startswith("support-triage in prod: ")
    assert (violation["file"], violation["policy_file"]) == (TRIAGE, "policies/models.yaml")


def test_model_allowed_outside_prod_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "name: gpt-4o-mini" in governed.read(SALES)  # dev and staging only
    assert head_violations(governed, capsys) == set()


def test_unknown_model_fires_in_every_environment(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(SALES, "  name: gpt-4o-mini\n", "  name: gpt-3.5-turbo\n")
    assert head_violations(governed, capsys) == {
        ("models/model-allowed", "sales-research", "dev"),
        ("models/model-allowed", "sales-research", "staging"),
    }


# --- cost ceiling -----------------------------------------------------------------------


def test_cost_ceiling_fires(governed: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 1.5")
    assert ("cost/ceiling-per-task", "support-triage", None) in head_violations(governed, capsys)


def test_cost_ceiling_at_the_limit_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 1")
    assert head_violations(governed, capsys) == set()


def test_missing_cost_target_fires(governed: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    governed.replace(TRIAGE, "    cost_per_task_usd: {max: 0.02}\n", "")
    assert ("cost/cost-target-declared", "support-triage", None) in head_violations(
        governed, capsys
    )


def test_cost_target_above_the_limit_is_a_warning(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "cost_per_task_usd: {max: 0.02}", "cost_per_task_usd: {max: 0.5}")
    code, data = check_json(governed, capsys)
    assert code == 0  # warnings do not fail the check
    assert fired(data) == {("cost/target-within-ceiling", "support-triage", None)}
    assert data["violations"][0]["severity"] == "warning"
    assert data["summary"]["warnings"] == 1


def test_raising_the_cost_limit_by_half_needs_finance(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 0.09")
    governed.commit("raise the cost limit")
    _, data = check_json(governed, capsys, "--base", base)
    wanted = approvals(data)["policy:cost/approvals[0]"]
    assert wanted["from"] == ["@acme/finance-ops"] and wanted["agents"] == ["support-triage"]


def test_raising_the_cost_limit_a_little_needs_no_finance(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 0.07")
    governed.commit("raise the cost limit a little")
    _, data = check_json(governed, capsys, "--base", base)
    assert "policy:cost/approvals[0]" not in approvals(data)


# --- data classes -----------------------------------------------------------------------


def test_pii_tool_without_declaration_fires(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = governed.read(TRIAGE)
    governed.write(TRIAGE, text.replace("  data_classes: [pii, ", "  data_classes: [", 1))
    assert ("data-classes/pii-declared", "support-triage", None) in head_violations(
        governed, capsys
    )


def test_pii_tool_with_declaration_does_not_fire(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "pii" in governed.read(TRIAGE).split("  data_classes:", 1)[1].splitlines()[0]
    assert head_violations(governed, capsys) == set()


def test_agent_without_pii_tools_needs_no_declaration(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = governed.read(SALES)
    for grant in ("crm.get_account", "crm.search_contacts"):
        text = text.replace(f"  - {grant}\n", "")
    text = text.replace(
        "  - name: human.escalate\n    constraints:\n      team: {enum: [sales-ops]}\n", ""
    )
    text = text.replace("  data_classes: [pii, customer-content, financial]\n", "")
    governed.write(SALES, text)
    rules = {(rule, agent) for rule, agent, _ in head_violations(governed, capsys)}
    assert ("data-classes/pii-declared", "sales-research") not in rules


# --- changes under policies/ ----------------------------------------------------------


def test_policy_change_needs_platform(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace(
        "policies/models.yaml",
        "'openai/gpt-4.1-mini']\n",
        "'openai/gpt-4.1-mini', 'openai/gpt-4o-mini']\n",
    )
    governed.commit("allow a cheaper model in prod")
    code, data = check_json(governed, capsys, "--base", base)
    assert code == 0
    wanted = approvals(data)["policy:governance/approvals[0]"]
    assert wanted["from"] == ["@acme/platform"]
    assert wanted["reason"] == "changes under policies/ need the platform owners' approval"
    assert data["changed_files"] == ["policies/models.yaml"]


def test_agent_only_change_needs_no_platform(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.replace(TRIAGE, "max_steps: 8,", "max_steps: 9,")
    governed.commit("one more step")
    _, data = check_json(governed, capsys, "--base", base)
    assert not any(key.startswith("policy:governance/") for key in approvals(data))


def test_workflow_change_needs_platform(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    base = governed.git("rev-parse", "HEAD")
    governed.write(".github/workflows/x.yml", "name: x\n")
    governed.commit("a workflow")
    _, data = check_json(governed, capsys, "--base", base)
    assert approvals(data)["policy:governance/approvals[1]"]["from"] == ["@acme/platform"]
