"""The semantic diff, on the example fleet committed to a real git repository."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

import pytest

from reconciler.plan.diff import StateDiff, changes_between, diff_states, edits
from reconciler.plan.phrases import AGENT_PHRASES
from reconciler.plan.phrasing import MISSING, Context, Edit, describe, fmt
from reconciler.spec.loader import load_ref
from tests.gitrepo import GitRepo

TRIAGE = "agents/support-triage/agent.yaml"
INVOICE = "agents/invoice-processing/agent.yaml"
TRIAGE_PROMPT = "agents/support-triage/prompts/system.md"
NO_REFUNDS = (
    "    - id: no-refunds\n"
    "      rule: Never issue refunds or credits; money decisions belong to the billing team.\n"
    "      forbid_tools: [billing.issue_refund]\n"
)


def _diff_after(repo: GitRepo, edit: Callable[[GitRepo], None]) -> StateDiff:
    base = repo.git("rev-parse", "HEAD")
    edit(repo)
    repo.commit()
    return diff_states(load_ref(repo.path, base), load_ref(repo.path, "HEAD"))


def _texts(result: StateDiff, agent: str) -> list[str]:
    found = result.agent(agent)
    assert found is not None, f"no changes for {agent}: {result.to_dict()}"
    return [c.text for c in found.changes]


def _kinds(result: StateDiff, agent: str) -> list[str]:
    found = result.agent(agent)
    assert found is not None
    return [c.kind for c in found.changes]


def test_no_changes_is_empty(fleet_repo: GitRepo) -> None:
    result = _diff_after(fleet_repo, lambda r: None)
    assert result.empty
    assert result.count == 0
    assert result.agents == ()
    assert result.base.errors == result.head.errors == 0


def test_model_swap_provider_and_params(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(INVOICE, "name: gpt-4.1\n", "name: gpt-4.1-mini\n")
        repo.replace(INVOICE, "provider: openai", "provider: azure")
        repo.replace(INVOICE, "params: {temperature: 0,", "params: {temperature: 0.2,")

    result = _diff_after(fleet_repo, edit)
    texts = _texts(result, "invoice-processing")
    assert "model gpt-4.1 → gpt-4.1-mini" in texts
    assert "model provider openai → azure" in texts
    assert "model param temperature 0 → 0.2" in texts
    change = result.agent("invoice-processing").changes[texts.index("model gpt-4.1 → gpt-4.1-mini")]  # type: ignore[union-attr]
    assert (change.kind, change.before, change.after) == (
        "model.changed",
        "gpt-4.1",
        "gpt-4.1-mini",
    )
    assert change.path == ("model", "name")


def test_tool_granted_names_access_and_risk_from_the_head_catalog(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(
            TRIAGE, "  - crm.get_account\n", "  - crm.get_account\n  - crm.update_record\n"
        )

    result = _diff_after(fleet_repo, edit)
    assert _texts(result, "support-triage") == [
        "tool granted: crm.update_record (write, high risk)"
    ]
    assert _kinds(result, "support-triage") == ["tool.granted"]


def test_tool_granted_with_a_catalog_risk_change_uses_the_head_risk(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(
            TRIAGE, "  - crm.get_account\n", "  - crm.get_account\n  - crm.update_record\n"
        )
        repo.replace(
            "policies/tools.yaml",
            "    access: write\n    risk: high\n    data_classes: [pii, financial]",
            "    access: write\n    risk: critical\n    data_classes: [pii, financial]",
        )

    result = _diff_after(fleet_repo, edit)
    assert "tool granted: crm.update_record (write, critical risk)" in _texts(
        result, "support-triage"
    )


def test_tool_revoked(fleet_repo: GitRepo) -> None:
    result = _diff_after(
        fleet_repo, lambda r: r.replace(TRIAGE, "  - billing.get_subscription\n", "")
    )
    assert _texts(result, "support-triage") == [
        "tool revoked: billing.get_subscription (read, medium risk)"
    ]
    assert result.agent("support-triage").changes[0].after is MISSING  # type: ignore[union-attr]


def test_constraint_change_on_a_grant(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(
            TRIAGE, "queue: {enum: [billing, tech, general]}", "queue: {enum: [billing, tech]}"
        )

    result = _diff_after(fleet_repo, edit)
    (change,) = result.agent("support-triage").changes  # type: ignore[union-attr]
    assert change.text == (
        "tool constraint changed: ticketing.update_ticket queue enum "
        "[billing, tech, general] → [billing, tech]"
    )
    assert change.kind == "tool.constraint_changed"
    assert change.before == ["billing", "tech", "general"]
    assert change.after == ["billing", "tech"]


def test_constraint_added_and_removed(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(TRIAGE, "      status: {enum: [open, pending]}\n", "")
        repo.replace(
            TRIAGE,
            "  - crm.get_account\n",
            "  - name: crm.get_account\n    constraints:\n      account_id: {max_length: 20}\n",
        )

    texts = _texts(_diff_after(fleet_repo, edit), "support-triage")
    assert "tool constraint removed: ticketing.update_ticket status enum [open, pending]" in texts
    assert "tool constraint added: crm.get_account account_id max_length 20" in texts


def test_human_approval_removed(fleet_repo: GitRepo) -> None:
    result = _diff_after(
        fleet_repo, lambda r: r.replace(INVOICE, "    requires_approval: true\n", "")
    )
    assert _texts(result, "invoice-processing") == ["human approval removed: erp.post_payment"]
    assert _kinds(result, "invoice-processing") == ["tool.approval_removed"]


def test_must_never_removed_and_added(fleet_repo: GitRepo) -> None:
    result = _diff_after(fleet_repo, lambda r: r.replace(TRIAGE, NO_REFUNDS, ""))
    assert _texts(result, "support-triage") == ["must_never rule removed: no-refunds"]
    assert _kinds(result, "support-triage") == ["must_never.removed"]

    def put_back(repo: GitRepo) -> None:
        repo.replace(TRIAGE, "  must_never:\n", "  must_never:\n" + NO_REFUNDS)

    texts = _texts(_diff_after(fleet_repo, put_back), "support-triage")
    assert texts == [
        "must_never rule added: no-refunds "
        "(Never issue refunds or credits; money decisions belong to the billing team.)"
    ]


def test_must_never_forbid_tools_changed(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(
            TRIAGE,
            "forbid_tools: [billing.issue_refund]",
            "forbid_tools: [billing.issue_refund, erp.post_payment]",
        )

    texts = _texts(_diff_after(fleet_repo, edit), "support-triage")
    assert texts == ["must_never rule no-refunds forbid_tools: added erp.post_payment"]


def test_prompt_change_has_versions_and_a_unified_diff(fleet_repo: GitRepo) -> None:
    old_text = fleet_repo.read(TRIAGE_PROMPT)
    new_text = old_text.replace("# Role\n", "# Role\n\nAlways be brief.\n", 1)
    result = _diff_after(fleet_repo, lambda r: r.write(TRIAGE_PROMPT, new_text))
    (change,) = result.agent("support-triage").changes  # type: ignore[union-attr]
    assert change.kind == "prompt.changed"
    assert change.text.startswith(f"prompt changed: {TRIAGE_PROMPT} (sha256:")
    old_v, new_v = change.before, change.after
    assert change.text.endswith(f"({old_v[:15]} → {new_v[:15]})")
    assert old_v != new_v and len(old_v[:15]) == len("sha256:") + 8
    assert change.detail is not None
    assert f"--- a/{TRIAGE_PROMPT}" in change.detail
    assert "+Always be brief." in change.detail.splitlines()


def test_agent_added_and_removed(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        shutil.copytree(repo.path / "agents/email-drafting", repo.path / "agents/email-two")
        repo.replace("agents/email-two/agent.yaml", "name: email-drafting", "name: email-two")
        shutil.rmtree(repo.path / "agents/sales-research")

    result = _diff_after(fleet_repo, edit)
    added, removed = result.agent("email-two"), result.agent("sales-research")
    assert added is not None and removed is not None
    assert added.status == "added"
    assert [c.text for c in added.changes] == [
        "agent added: email-two (model gpt-4.1-mini, 5 tools)"
    ]
    assert "tool email.send (write, high risk)" in (added.changes[0].detail or "")
    assert removed.status == "removed"
    assert [c.text for c in removed.changes] == ["agent removed: sales-research"]


def test_catalog_risk_change_marks_the_agents_holding_the_tool(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        text = repo.read("policies/tools.yaml")
        start = text.index("- name: crm.get_account")
        at = text.index("risk: medium", start)
        repo.write("policies/tools.yaml", text[:at] + "risk: high" + text[at + 12 :])

    result = _diff_after(fleet_repo, edit)
    (change,) = result.catalog
    holders = ("email-drafting", "sales-research", "support-triage")
    assert change.affects == holders
    assert (
        change.text
        == f"catalog: crm.get_account risk medium → high (affects: {', '.join(holders)})"
    )
    assert change.kind == "catalog.risk_changed"
    assert result.agents == ()


def test_catalog_tool_added_and_removed(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        text = repo.read("policies/tools.yaml")
        start = text.index("  - name: crm.delete_record")
        end = text.index("  - name: ", start + 5)
        block = text[start:end].replace("crm.delete_record", "crm.merge_records")
        repo.write("policies/tools.yaml", text[:start] + block + text[end:])

    result = _diff_after(fleet_repo, edit)
    texts = [c.text for c in result.catalog]
    assert "catalog: tool added: crm.merge_records (destructive, critical risk)" in texts
    assert "catalog: tool removed: crm.delete_record" in texts


def test_contract_limits_labels_deploy_and_runtime(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(TRIAGE, "task_success_rate: {min: 0.90}", "task_success_rate: {min: 0.85}")
        repo.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 0.2")
        repo.replace(TRIAGE, "tier: customer-facing", "tier: internal")
        repo.replace(TRIAGE, "environments: [dev, staging, prod]", "environments: [dev, staging]")
        repo.replace(TRIAGE, "canary_percent: 10", "canary_percent: 25")
        repo.replace(TRIAGE, 'owners: ["@acme/support-eng"]', 'owners: ["@acme/support-ops"]')
        repo.replace(TRIAGE, "      - customer explicitly asks for a human\n", "")
        repo.replace(TRIAGE, "    latency_p95_s: {max: 8}\n", "")

    texts = _texts(_diff_after(fleet_repo, edit), "support-triage")
    expected = {
        "success metric task_success_rate min 0.9 → 0.85",
        "success metric removed: latency_p95_s",
        "limits max_cost_usd_per_task 0.05 → 0.2",
        "label tier customer-facing → internal",
        "deploy environments [dev, staging, prod] → [dev, staging]",
        "rollout canary_percent 10 → 25",
        "owners: added @acme/support-ops; removed @acme/support-eng",
        'escalation when: removed "customer explicitly asks for a human"',
    }
    assert expected <= set(texts), texts
    assert len(texts) == len(expected)


def test_environment_gate_reorder_and_removal(fleet_repo: GitRepo) -> None:
    envs = "policies/environments.yaml"
    result = _diff_after(
        fleet_repo, lambda r: r.replace(envs, "soak_minutes: 120", "soak_minutes: 60")
    )
    assert [c.text for c in result.environments] == ["environment prod gate soak_minutes 120 → 60"]

    def drop_staging(repo: GitRepo) -> None:
        text = repo.read(envs)
        start, end = text.index("  - name: staging"), text.index("  - name: prod")
        repo.write(envs, text[:start] + text[end:])

    texts = [c.text for c in _diff_after(fleet_repo, drop_staging).environments]
    assert "environment removed: staging" in texts
    assert "promotion order [dev, staging, prod] → [dev, prod]" in texts


def test_policy_and_pricing_changes(fleet_repo: GitRepo) -> None:
    policy = (
        "apiVersion: alm/v1\nkind: Policy\nmetadata: {name: safety}\n"
        "validations:\n  - id: cheap\n    expression: 'true'\n    message: be cheap\n"
    )
    pricing = (
        "apiVersion: alm/v1\nkind: Pricing\nmodels:\n"
        "  - {provider: openai, name: gpt-x, input_usd_per_mtok: 2, output_usd_per_mtok: 8}\n"
    )

    def add(repo: GitRepo) -> None:
        repo.write("policies/safety.yaml", policy)
        repo.write("policies/pricing.yaml", pricing)

    result = _diff_after(fleet_repo, add)
    assert [c.text for c in result.policies] == [
        "policy added: safety (1 validation, 0 approval rules)"
    ]
    assert [c.text for c in result.pricing] == [
        "price added: openai/gpt-x (input 2, output 8 USD per million tokens)"
    ]

    def change(repo: GitRepo) -> None:
        repo.replace("policies/safety.yaml", "message: be cheap", "message: be frugal")
        repo.replace("policies/pricing.yaml", "input_usd_per_mtok: 2,", "input_usd_per_mtok: 2.5,")

    result = _diff_after(fleet_repo, change)
    assert [c.text for c in result.policies] == [
        "policy safety validation cheap message be cheap → be frugal"
    ]
    assert [c.text for c in result.pricing] == ["price openai/gpt-x input_usd_per_mtok 2 → 2.5"]


def test_a_path_no_phrase_covers_falls_back_to_the_generic_form() -> None:
    ctx = Context({}, {})
    changes = changes_between(AGENT_PHRASES, ctx, {"spare": {"knob": 1}}, {"spare": {"knob": 2}})
    assert [(c.kind, c.text) for c in changes] == [("other.changed", "spare.knob: 1 → 2")]
    added = describe({}, ctx, Edit(("x", "y"), MISSING, [1, 2]))
    assert (added.kind, added.text) == ("other.added", "x.y: none → [1, 2]")


def test_volume_is_phrased(fleet_repo: GitRepo) -> None:
    result = _diff_after(
        fleet_repo, lambda r: r.replace(TRIAGE, "tasks_per_month: 120000", "tasks_per_month: 1500")
    )
    assert _texts(result, "support-triage") == ["volume tasks_per_month 120000 → 1500"]


def test_a_side_that_does_not_load_is_reported_not_crashed(fleet_repo: GitRepo) -> None:
    def edit(repo: GitRepo) -> None:
        repo.replace(TRIAGE, "max_steps: 8", "max_stepz: 8")
        repo.replace(INVOICE, "name: gpt-4.1\n", "name: gpt-4.1-mini\n")

    result = _diff_after(fleet_repo, edit)
    assert result.base.errors == 0 and result.head.errors >= 1
    triage = result.agent("support-triage")
    assert triage is not None and triage.status == "invalid"
    assert triage.changes[0].text.startswith("agent support-triage not compared")
    assert "model gpt-4.1 → gpt-4.1-mini" in _texts(result, "invoice-processing")


def test_to_dict_is_json_and_versioned(fleet_repo: GitRepo) -> None:
    result = _diff_after(
        fleet_repo, lambda r: r.replace(TRIAGE, "  - billing.get_subscription\n", "")
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schema_version"] == 1
    assert data["changes"] == 1
    (agent,) = data["agents"]
    assert agent["name"] == "support-triage" and agent["status"] == "changed"
    assert agent["changes"][0] == {
        "kind": "tool.revoked",
        "text": "tool revoked: billing.get_subscription (read, medium risk)",
        "path": ["tools", "billing.get_subscription"],
        "before": {"constraints": {}, "requires_approval": False},
        "after": None,
        "detail": None,
        "affects": [],
    }
    assert set(data) >= {"base", "head", "catalog", "environments", "policies", "pricing"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.0, "0"),
        (0.05, "0.05"),
        (None, "none"),
        (True, "true"),
        (["a", 1.0], "[a, 1]"),
        ("", '""'),
    ],
)
def test_values_read_as_a_reviewer_expects(value: object, shown: str) -> None:
    assert fmt(value) == shown


def test_edits_of_identical_views_are_none_and_a_deep_change_is_found() -> None:
    """Identical views skip DeepDiff; whatever differs still goes through it."""
    before = {"tools": [{"name": "a.b", "constraints": {"x": {"maximum": 5}}}], "n": 1}
    assert edits(before, json.loads(json.dumps(before))) == []
    deeper = {"tools": [{"name": "a.b", "constraints": {"x": {"maximum": 6}}}], "n": 1}
    assert [e.path for e in edits(before, deeper)] == [("tools",)]
    assert edits(before, {**before, "n": 1.0}) == []  # numeric type changes are ignored
    assert [e.path for e in edits({1: "a", "b": 2}, {1: "a", "b": 3})] == [("b",)]  # not JSON


def test_an_environment_on_a_git_target_names_its_branch(fleet_repo: GitRepo) -> None:
    envs = "policies/environments.yaml"
    qa = (
        "  - name: qa\n    target: {type: git, branch: alm/qa}\n"
        "    gates: {previous_environment: false}\n"
    )

    def add_qa(repo: GitRepo) -> None:
        text = repo.read(envs)
        repo.write(envs, text.replace("  - name: staging", qa + "  - name: staging", 1))

    texts = [c.text for c in _diff_after(fleet_repo, add_qa).environments]
    assert any(t.startswith("environment added: qa") and "git branch alm/qa" in t for t in texts)
    assert not any("None" in t for t in texts), texts
