"""Every cross-check: a finding at the exact file:line:col, saying what was expected."""

from __future__ import annotations

import pytest

from reconciler.errors import Finding
from reconciler.spec.checks import CHECKS, validate
from reconciler.spec.loader import load_snapshot
from tests.cli import run
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import (
    AGENT,
    AGENT_YAML,
    CATALOG,
    CATALOG_YAML,
    ENVIRONMENTS,
    PROMPT_TEXT,
    SUITE,
    SUITE_YAML,
    at,
    mini_snapshot,
    only,
    pos,
)


def findings_for(overrides: dict[str, str | None]) -> list[Finding]:
    raw = {rel: None if text is None else text.encode() for rel, text in overrides.items()}
    return validate(load_snapshot(mini_snapshot(raw)))


def edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} is not once in the text"
    return text.replace(old, new)


def agent_findings(old: str, new: str) -> tuple[str, list[Finding]]:
    text = edited(AGENT_YAML, old, new)
    return text, findings_for({AGENT: text})


def test_the_mini_fleet_has_no_findings() -> None:
    assert findings_for({}) == []


def test_folder_name_must_match_metadata_name() -> None:
    _, findings = agent_findings("  name: helper", "  name: helpr")
    finding = only(findings, "name-mismatch")
    assert at(finding) == (AGENT, 4, 9)
    assert finding.message == "metadata.name is 'helpr'; expected the folder name 'helper'"
    assert len(findings) == 1


def test_duplicate_agent_names() -> None:
    findings = findings_for(
        {"agents/helper2/agent.yaml": AGENT_YAML, "agents/helper2/prompts/system.md": PROMPT_TEXT}
    )
    duplicate = only(findings, "duplicate-agent")
    assert at(duplicate) == ("agents/helper2/agent.yaml", 4, 9)
    assert "'helper' is already used by agents/helper/agent.yaml" in duplicate.message
    assert "expected each agent name once" in duplicate.message
    assert at(only(findings, "name-mismatch")) == ("agents/helper2/agent.yaml", 4, 9)
    assert {f.location.file for f in findings} == {"agents/helper2/agent.yaml"}


def test_granted_tool_missing_from_the_catalog() -> None:
    text, findings = agent_findings("  - desk.get_ticket", "  - desk.get_tickt")
    finding = only(findings, "unknown-tool")
    assert at(finding) == (AGENT, *pos(text, "desk.get_tickt"))
    assert at(finding) == (AGENT, 19, 5)
    assert "'desk.get_tickt' is not in the tool catalog" in finding.message
    assert "did you mean 'desk.get_ticket'" in finding.message
    assert "expected a tool defined in policies/tools.yaml" in finding.message


def test_granted_tool_as_a_mapping_is_located_at_its_name() -> None:
    text, findings = agent_findings("  - name: desk.route", "  - name: desk.rout")
    assert at(only(findings, "unknown-tool")) == (AGENT, *pos(text, "desk.rout\n"))


def test_wildcard_grants_match_the_catalog_or_are_unknown() -> None:
    _, findings = agent_findings("  - desk.get_ticket", "  - desk.*")
    assert [f.code for f in findings] == ["grant-forbidden"]  # desk.* covers desk.refund
    text, findings = agent_findings("  - desk.get_ticket", "  - nothing.*")
    assert at(only(findings, "unknown-tool")) == (AGENT, *pos(text, "nothing.*"))


def test_constraint_key_that_is_not_an_argument_of_the_tool() -> None:
    text, findings = agent_findings("      queue: {enum", "      queu: {enum")
    finding = only(findings, "unknown-argument")
    assert at(finding) == (AGENT, *pos(text, "queu:"))
    assert at(finding) == (AGENT, 22, 7)
    assert finding.message == (
        "constraint on 'queu', which is not an argument of desk.route; "
        "expected one of: queue, ticket_id"
    )


def test_constraint_value_outside_the_argument_schema() -> None:
    text, findings = agent_findings("[billing, tech]", "[billing, sales]")
    finding = only(findings, "constraint-value")
    assert at(finding) == (AGENT, *pos(text, "queue:"))
    assert "enum value 'sales' is not a valid 'queue' for desk.route" in finding.message
    assert "expected a value matching" in finding.message


def test_each_constraint_value_is_judged_by_its_own_json_type_even_when_checked_before() -> None:
    """Validity is remembered per distinct value: a repeat is reported again, and 1 and
    true are two values (equal as Python dictionary keys, they would share an answer)."""
    catalog = edited(
        CATALOG_YAML,
        "queue: {type: string, enum: [billing, tech, general]}",
        "queue: {enum: [billing, tech, general, 1]}",
    )
    agent = edited(AGENT_YAML, "[billing, tech]", "[sales, 1, true, billing, sales]")
    findings = findings_for({CATALOG: catalog, AGENT: agent})
    messages = [f.message for f in findings if f.code == "constraint-value"]
    assert [m.split(" is not")[0] for m in messages] == [
        "enum value 'sales'",
        "enum value True",
        "enum value 'sales'",
    ]


def test_constraint_on_a_tool_with_an_invalid_schema_is_a_finding_not_a_crash() -> None:
    catalog = edited(
        CATALOG_YAML,
        "queue: {type: string, enum: [billing, tech, general]}",
        "queue: {type: strin}",
    )
    findings = findings_for({CATALOG: catalog})
    finding = only(findings, "bad-json-schema")
    assert finding.location.file == CATALOG
    assert finding.location.line == pos(catalog, "queue: {type: strin}")[0]
    assert "not a valid JSON Schema" in finding.message


def test_constraint_on_a_schema_with_an_unresolvable_ref() -> None:
    catalog = edited(
        CATALOG_YAML,
        "queue: {type: string, enum: [billing, tech, general]}",
        "queue: {$ref: '#/$defs/nowhere'}",
    )
    findings = findings_for({CATALOG: catalog})
    finding = only(findings, "bad-json-schema")  # at the $ref itself (spec.safeschema)
    assert at(finding) == (CATALOG, *pos(catalog, "'#/$defs/nowhere'"))
    assert "'#/$defs/nowhere' does not resolve" in finding.message


def test_constraint_through_a_ref_that_resolves() -> None:
    catalog = edited(
        CATALOG_YAML,
        "queue: {type: string, enum: [billing, tech, general]}",
        "queue: {$ref: '#/$defs/queue'}\n      $defs:\n        queue: {enum: [billing, tech]}",
    )
    assert findings_for({CATALOG: catalog}) == []
    text = edited(AGENT_YAML, "[billing, tech]", "[billing, vip]")
    finding = only(findings_for({CATALOG: catalog, AGENT: text}), "constraint-value")
    assert "'vip'" in finding.message


def test_must_never_forbids_an_unknown_tool() -> None:
    text, findings = agent_findings("[desk.refund]", "[desk.refnd]")
    finding = only(findings, "unknown-tool")
    assert at(finding) == (AGENT, *pos(text, "desk.refnd"))
    assert at(finding) == (AGENT, 12, 22)
    assert "must_never rule 'no-refunds' forbids 'desk.refnd'" in finding.message
    assert "expected a catalog tool" in finding.message


def test_escalation_tool_not_in_the_catalog() -> None:
    text, findings = agent_findings("{tool: human.escalate,", "{tool: human.page,")
    finding = only(findings, "missing-escalation-tool")
    assert at(finding) == (AGENT, *pos(text, "human.page"))
    assert at(finding) == (AGENT, 13, 22)
    assert "'human.page' is not in the tool catalog" in finding.message


def test_escalation_tool_not_granted() -> None:
    _, findings = agent_findings("  - human.escalate\n", "")
    finding = only(findings, "missing-escalation-tool")
    assert at(finding) == (AGENT, 13, 22)
    assert finding.message == (
        "escalation tool 'human.escalate' is not granted; expected it under tools:"
    )


def test_model_unknown_to_the_price_data() -> None:
    text, findings = agent_findings("name: gpt-4.1-mini", "name: gpt-imaginary-7")
    finding = only(findings, "unknown-model")
    assert at(finding) == (AGENT, *pos(text, "gpt-imaginary-7"))
    assert at(finding) == (AGENT, 16, 33)
    assert "openai/gpt-imaginary-7 has no price" in finding.message
    assert "expected a known model or a kind: Pricing override in policies/" in finding.message


def test_unknown_model_suggests_the_closest_priced_model() -> None:
    _, findings = agent_findings("name: gpt-4.1-mini", "name: gpt-4.1-mnii")
    finding = only(findings, "unknown-model")
    assert finding.message == (
        "model openai/gpt-4.1-mnii has no price in the bundled price data "
        "(did you mean 'gpt-4.1-mini'?); expected a known model or a kind: Pricing override "
        "in policies/"
    )


def test_unknown_provider_suggests_the_closest_provider() -> None:
    _, findings = agent_findings("provider: openai", "provider: opnai")
    assert "(did you mean provider 'openai'?)" in only(findings, "unknown-model").message


def test_a_priced_override_is_suggested_too() -> None:
    _, findings = findings_and(
        {"policies/pricing.yaml": _pricing("openai", "acme-tuned-v2")},
        ("name: gpt-4.1-mini", "name: acme-tuned-v3"),
    )
    assert "(did you mean 'acme-tuned-v2'?)" in only(findings, "unknown-model").message


def _pricing(provider: str, name: str) -> str:
    return (
        "apiVersion: alm/v1\nkind: Pricing\nmodels:\n"
        f"  - {{provider: {provider}, name: {name}, "
        "input_usd_per_mtok: 0.1, output_usd_per_mtok: 0.4}\n"
    )


def test_pricing_override_makes_a_model_known() -> None:
    text = edited(AGENT_YAML, "name: gpt-4.1-mini", "name: gpt-imaginary-7")
    priced = findings_for(
        {AGENT: text, "policies/pricing.yaml": _pricing("openai", "gpt-imaginary-7")}
    )
    assert priced == []
    other_provider = findings_for(
        {AGENT: text, "policies/pricing.yaml": _pricing("acme", "gpt-imaginary-7")}
    )
    assert at(only(other_provider, "unknown-model")) == (AGENT, 16, 33)


def test_provider_is_part_of_the_price_lookup() -> None:
    text, findings = agent_findings("provider: openai", "provider: nobody-ai")
    assert at(only(findings, "unknown-model")) == (AGENT, *pos(text, "gpt-4.1-mini"))


def test_deploy_environment_not_defined() -> None:
    text, findings = agent_findings("[staging, prod]", "[staging, qa]")
    finding = only(findings, "unknown-environment")
    assert at(finding) == (AGENT, *pos(text, "qa]"))
    assert finding.message == "environment 'qa' is not defined; expected one of: staging, prod"


def test_deploy_without_any_environments_file() -> None:
    findings = findings_for({ENVIRONMENTS: None})
    assert at(only(findings, "missing-environments")) == (ENVIRONMENTS, 1, 1)
    envs = [f for f in findings if f.code == "unknown-environment"]
    assert [f.location.line for f in envs] == [24, 24]
    assert all("expected one of: (none defined)" in f.message for f in envs)


@pytest.mark.parametrize("owner", ["acme-desk", "@", "@acme/", "acme/desk", "@a b", "@alice\\n"])
def test_owners_must_be_github_handles(owner: str) -> None:
    text, findings = agent_findings('"@alice"', f'"{owner}"')
    finding = only(findings, "bad-owner")
    assert at(finding) == (AGENT, *pos(text, f'"{owner}"'))
    assert at(finding) == (AGENT, 5, 26)
    assert "expected @user or @org/team" in finding.message


@pytest.mark.parametrize("owner", ["@bob", "@acme/desk-team", "@Acme-1/platform.sre", "@a"])
def test_owners_of_the_right_form(owner: str) -> None:
    _, findings = agent_findings('"@alice"', f'"{owner}"')
    assert findings == []


def test_catalog_approvers_and_policy_owners_are_handles_too() -> None:
    catalog = edited(CATALOG_YAML, 'approvers: ["@acme/desk"]', 'approvers: ["desk team"]')
    policy = (
        "apiVersion: alm/v1\nkind: Policy\n"
        "metadata: {name: p, owners: [nobody]}\n"
        "validations: [{expression: 'true', message: ok}]\n"
    )
    findings = findings_for({CATALOG: catalog, "policies/p.yaml": policy})
    owners = sorted(at(f) for f in findings if f.code == "bad-owner")
    assert owners == [
        ("policies/p.yaml", 3, 30),
        (CATALOG, *pos(catalog, '"desk team"')),
    ]


def test_agent_without_its_eval_suite_folder() -> None:
    findings = findings_for({SUITE: None})
    finding = only(findings, "missing-evals")
    assert at(finding) == (AGENT, 4, 9)
    assert "expected evals/helper/" in finding.message
    assert len(findings) == 1


def test_customer_facing_agent_without_escalation() -> None:
    text, findings = agent_findings(
        "  escalation: {tool: human.escalate, when: [angry customer]}\n", ""
    )
    finding = only(findings, "customer-facing-unguarded")
    assert at(finding) == (AGENT, *pos(text, "contract:"))
    assert finding.message == (
        "customer-facing agent has no escalation path; expected contract.escalation"
    )


def test_customer_facing_agent_without_must_never_rules() -> None:
    rules = (
        "  must_never:\n    - id: no-refunds\n      rule: Never refund anything.\n"
        "      forbid_tools: [desk.refund]\n"
    )
    _, findings = agent_findings(rules, "")
    finding = only(findings, "customer-facing-unguarded")
    assert at(finding) == (AGENT, 7, 1)  # the contract: key
    assert "no must_never rules; expected contract.must_never" in finding.message


def test_customer_facing_agent_without_either_gets_both_findings() -> None:
    text = edited(AGENT_YAML, "  escalation: {tool: human.escalate, when: [angry customer]}\n", "")
    text = edited(text, "    - id: no-refunds\n      rule: Never refund anything.\n", "")
    text = edited(text, "  must_never:\n      forbid_tools: [desk.refund]\n", "  must_never: []\n")
    findings = findings_for({AGENT: text})
    assert [f.code for f in findings] == ["customer-facing-unguarded"] * 2
    assert {f.location.line for f in findings} == {7}
    assert sorted(f.message.split(";")[0] for f in findings) == [
        "customer-facing agent has no escalation path",
        "customer-facing agent has no must_never rules",
    ]


def test_internal_agent_needs_neither() -> None:
    text = edited(AGENT_YAML, "tier: customer-facing", "tier: internal")
    text = edited(text, "  escalation: {tool: human.escalate, when: [angry customer]}\n", "")
    assert findings_for({AGENT: text}) == []


def test_a_missing_catalog_is_the_one_error_not_every_grant_and_case() -> None:
    findings = findings_for({CATALOG: None})
    assert at(only(findings, "missing-catalog")) == (CATALOG, 1, 1)
    # the grants, the must-never rule, the escalation tool and the suite's fixture and
    # expected call all name tools; without a catalog they are not judged, only the cause
    assert [f.code for f in findings] == ["missing-catalog"]


def test_duplicate_tool_in_the_catalog() -> None:
    extra = CATALOG_YAML + (
        "  - name: desk.refund\n    system: desk\n    description: Again.\n"
        "    access: read\n    risk: low\n    parameters: {type: object}\n"
    )
    finding = only(findings_for({CATALOG: extra}), "duplicate-tool")
    assert at(finding) == (CATALOG, *pos(extra, "desk.refund", 2))


def test_eval_suites_must_belong_to_an_agent() -> None:
    findings = findings_for(
        {"evals/ghost/s.yaml": SUITE_YAML.replace("agent: helper", "agent: ghost")}
    )
    finding = only(findings, "orphan-suite")
    assert finding.severity == "warning"
    assert at(finding) == ("evals/ghost/s.yaml", 3, 18)
    mismatch = only(findings_for({"evals/ghost/s.yaml": SUITE_YAML}), "suite-agent-mismatch")
    assert at(mismatch) == ("evals/ghost/s.yaml", 3, 32)
    assert mismatch.message == "metadata.agent is 'helper'; expected the folder name 'ghost'"


def test_fixture_for_an_unknown_tool() -> None:
    suite = edited(SUITE_YAML, "- tool: desk.get_ticket", "- tool: desk.get_tix")
    finding = only(findings_for({SUITE: suite}), "unknown-tool")
    assert at(finding) == (SUITE, *pos(suite, "desk.get_tix"))
    assert finding.message == (
        "fixture for 'desk.get_tix', which is not in the tool catalog "
        "(did you mean 'desk.get_ticket'?); expected a catalog tool"
    )


def test_expected_tool_call_of_an_unknown_tool() -> None:
    suite = edited(SUITE_YAML, "[{tool: desk.route,", "[{tool: desk.rout,")
    finding = only(findings_for({SUITE: suite}), "unknown-tool")
    assert at(finding) == (SUITE, *pos(suite, "desk.rout"))
    assert finding.message == (
        "expected call to 'desk.rout', which is not in the tool catalog "
        "(did you mean 'desk.route'?); expected a catalog tool"
    )


def test_forbidden_tool_call_of_an_unknown_tool() -> None:
    """A typo here would silently disable the safety check: the call can never happen."""
    suite = edited(
        SUITE_YAML, "      outcome: resolved\n", "      forbid_tool_calls: [desk.refnd]\n"
    )
    finding = only(findings_for({SUITE: suite}), "unknown-tool")
    assert at(finding) == (SUITE, *pos(suite, "desk.refnd"))
    assert finding.message == (
        "forbidden call to 'desk.refnd', which is not in the tool catalog "
        "(did you mean 'desk.refund'?); expected a catalog tool"
    )


def test_expected_and_forbidden_catalog_tools_are_fine() -> None:
    suite = edited(
        SUITE_YAML, "      outcome: resolved\n", "      forbid_tool_calls: [desk.refund]\n"
    )
    assert findings_for({SUITE: suite}) == []


def test_a_case_marked_needs_review_is_an_error_until_the_marker_is_gone() -> None:
    """A promoted case must not gate pull requests on expectations nobody agreed to."""
    marked = edited(SUITE_YAML, "    expect:\n", "    needs_review: true\n    expect:\n")
    finding = only(findings_for({SUITE: marked}), "case-needs-review")
    assert finding.severity == "error"
    assert at(finding) == (SUITE, *pos(marked, "needs_review"))
    assert "'routes-billing' was promoted from production" in finding.message
    assert findings_for({SUITE: marked.replace("needs_review: true", "needs_review: false")}) == []


def test_granting_a_tool_the_agents_own_must_never_forbids() -> None:
    text, findings = agent_findings("  - human.escalate\n", "  - human.escalate\n  - desk.refund\n")
    finding = only(findings, "grant-forbidden")
    assert at(finding) == (AGENT, *pos(text, "desk.refund", 2))
    assert finding.message == (
        "tool 'desk.refund' is granted, but must_never rule 'no-refunds' forbids 'desk.refund' "
        "(line 12); expected the grant removed, or the rule changed in the contract"
    )


def test_a_wildcard_grant_covering_a_forbidden_tool_is_forbidden_too() -> None:
    text, findings = agent_findings("  - desk.get_ticket\n", "  - desk.*\n")
    finding = only(findings, "grant-forbidden")
    assert at(finding) == (AGENT, *pos(text, "desk.*"))
    assert "'desk.*' is granted, but must_never rule 'no-refunds' forbids" in finding.message


def test_a_wildcard_rule_forbids_a_grant_of_its_system() -> None:
    text, findings = agent_findings("[desk.refund]", "[desk.*]")
    assert [at(f) for f in findings if f.code == "grant-forbidden"] == [
        (AGENT, *pos(text, "desk.get_ticket")),
        (AGENT, *pos(text, "desk.route")),
    ]


def test_every_cross_check_finding_has_a_line_and_column() -> None:
    """A state that trips many checks at once: each finding points into a file."""
    text = AGENT_YAML
    for old, new in [
        ("  name: helper", "  name: helpr"),
        ("  - desk.get_ticket", "  - desk.nope"),
        ("      queue: {enum", "      queu: {enum"),
        ("[desk.refund]", "[desk.zap]"),
        ("name: gpt-4.1-mini", "name: gpt-imaginary-7"),
        ("[staging, prod]", "[staging, qa]"),
        ('"@alice"', '"alice"'),
    ]:
        text = edited(text, old, new)
    findings = findings_for({AGENT: text})
    codes = {f.code for f in findings}
    assert {
        "name-mismatch",
        "unknown-tool",
        "unknown-argument",
        "unknown-model",
        "unknown-environment",
        "bad-owner",
    } <= codes
    assert all(f.location.file == AGENT for f in findings)
    assert all(f.location.line >= 1 and f.location.column >= 1 for f in findings)
    assert all("expected" in f.message for f in findings)
    assert findings == sorted(findings, key=Finding.sort_key)


POLICY_YAML = """\
apiVersion: alm/v1
kind: Policy
metadata: {name: payments, owners: ["@acme/security"]}
match:
  labels: {domain: payments}
validations:
  - {expression: "true", message: ok}
"""


def findings_and(files: dict[str, str], agent_edit: tuple[str, str]) -> tuple[str, list[Finding]]:
    text = edited(AGENT_YAML, *agent_edit)
    return text, findings_for({**files, AGENT: text})


def test_a_misspelt_label_value_that_policies_match_on_is_reported() -> None:
    text, findings = agent_findings("{tier: customer-facing}", "{tier: custmer-facing}")
    finding = only(findings, "unknown-label-value")
    assert finding.severity == "warning"
    assert at(finding) == (AGENT, *pos(text, "custmer-facing"))
    assert finding.message == (
        "label tier: 'custmer-facing' is matched by no policy (did you mean 'customer-facing'?); "
        "expected one of the values policies match: customer-facing"
    )


def test_label_values_from_policies_match_are_known() -> None:
    policies = {"policies/payments.yaml": POLICY_YAML}
    edit = ("{tier: customer-facing}", "{tier: customer-facing, domain: Payment}")
    text, findings = findings_and(policies, edit)
    finding = only(findings, "unknown-label-value")
    assert at(finding) == (AGENT, *pos(text, "Payment"))
    assert "did you mean 'payments'?" in finding.message
    _, findings = findings_and(policies, (edit[0], edit[0].replace("}", ", domain: payments}")))
    assert findings == []


def test_a_label_value_far_from_every_matched_value_is_fine() -> None:
    _, findings = agent_findings("{tier: customer-facing}", "{tier: internal}")
    assert not [f for f in findings if f.code.startswith("unknown-label")]


def test_a_misspelt_label_key_that_policies_match_on_is_reported() -> None:
    text, findings = agent_findings("{tier: customer-facing}", "{teir: customer-facing}")
    finding = only(findings, "unknown-label")
    assert finding.severity == "warning"
    assert at(finding) == (AGENT, *pos(text, "teir"))
    assert "(did you mean 'tier'?)" in finding.message


def test_the_registry_lists_every_check_once() -> None:
    assert len(CHECKS) == len(set(CHECKS))
    names = {check.__name__ for check in CHECKS}
    assert {
        "folder_matches_name",
        "unique_agent_names",
        "granted_tools_exist",
        "constraints_name_arguments",
        "forbidden_tools_exist",
        "escalation_tool_available",
        "model_is_priced",
        "deploy_environments_defined",
        "owners_well_formed",
        "eval_suite_present",
        "customer_facing_is_guarded",
        "grants_not_forbidden",
        "suite_tools_exist",
        "labels_match_policies",
    } <= names


def test_escalation_tool_granted_through_a_wildcard() -> None:
    _, findings = agent_findings("  - human.escalate\n", "  - human.*\n")
    assert findings == []


def test_alm_validate_reports_the_new_checks_at_file_line_col(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the CLI, on a real repository: what a reviewer would miss is pointed out."""
    mini.replace(AGENT, "  - human.escalate\n", "  - human.escalate\n  - desk.refund\n")
    mini.replace(AGENT, "{tier: customer-facing}", "{tier: custmer-facing}")
    mini.replace(SUITE, "      outcome: resolved\n", "      forbid_tool_calls: [desk.refnd]\n")
    code, out, err = run(capsys, "-C", str(mini.path), "validate")
    assert code == 1, out + err
    agent, suite = mini.read(AGENT), mini.read(SUITE)
    lines = out.splitlines()
    line, col = pos(agent, "custmer-facing")
    assert f"{AGENT}:{line}:{col}: warning: label tier: 'custmer-facing'" in out
    line, col = pos(agent, "desk.refund", 2)
    assert f"{AGENT}:{line}:{col}: error: tool 'desk.refund' is granted, but must_never" in out
    line, col = pos(suite, "desk.refnd")
    assert (
        f"{SUITE}:{line}:{col}: error: forbidden call to 'desk.refnd', which is not in the "
        "tool catalog (did you mean 'desk.refund'?)" in out
    )
    assert lines[-1].endswith("2 errors, 1 warning")
