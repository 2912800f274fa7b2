"""Defects found by the new-user audit of `alm policy check`, each pinned by a test."""

from __future__ import annotations

import pytest

from tests.gitrepo import GitRepo
from tests.test_policy_fleet import check_json, governed

__all__ = ["governed"]  # the fixture, used by name

COST = "policies/cost.yaml"
TRIAGE = "agents/support-triage/agent.yaml"
CEILING = 'expression: "object.limits.max_cost_usd_per_task <= 1.0"'


def _new(data: dict[str, object]) -> dict[tuple[str, str], object]:
    violations = data["violations"]
    assert isinstance(violations, list)
    return {(v["rule"], v["agent"]): v["new"] for v in violations}


def test_a_tightened_rule_makes_its_findings_new_not_pre_existing(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    # no agent changed, yet this change fails the fleet: "pre-existing" (the plan's
    # "already on base") would tell the reviewer the fleet was broken before it
    base = governed.git("rev-parse", "HEAD")
    governed.replace(COST, CEILING, CEILING.replace("1.0", "0.001"))
    governed.commit("tighten the ceiling")
    code, data = check_json(governed, capsys, "--base", base)
    assert code == 1
    new = _new(data)
    assert new and set(new.values()) == {True}
    assert {rule for rule, _ in new} == {"cost/ceiling-per-task"}
    summary = data["summary"]
    assert isinstance(summary, dict) and summary["new_errors"] == len(new)


def test_a_rule_left_as_it_was_keeps_an_old_finding_pre_existing(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 1.5")
    base = governed.commit("an old violation")
    # the policy file changes, but not what the ceiling rule means
    governed.replace(COST, "      change this policy", "      (reworded) change this policy")
    governed.commit("reword the message")
    _, data = check_json(governed, capsys, "--base", base)
    assert _new(data) == {("cost/ceiling-per-task", "support-triage"): False}


def test_a_rule_added_to_a_policy_is_new_and_its_neighbours_are_not(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    governed.replace(TRIAGE, "max_cost_usd_per_task: 0.05", "max_cost_usd_per_task: 1.5")
    base = governed.commit("an old violation")
    governed.replace(
        COST,
        "validations:\n",
        "validations:\n"
        "  - id: no-triage\n    expression: \"object.metadata.name != 'support-triage'\"\n"
        "    message: no triage\n",
    )
    governed.commit("a new rule")
    _, data = check_json(governed, capsys, "--base", base)
    assert _new(data) == {
        ("cost/ceiling-per-task", "support-triage"): False,
        ("cost/no-triage", "support-triage"): True,
    }


LEAST = "policies/least-privilege.yaml"
WILDCARD = '"object.tools.all(t, !t.wildcard)"'


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("^(?!crm)", "look-around, including look-ahead and look-behind, is not supported"),
        ("[a-", "unclosed character class"),
    ],
)
def test_a_pattern_literal_the_engine_cannot_run_is_an_error_at_the_policy(
    governed: GitRepo, capsys: pytest.CaptureFixture[str], pattern: str, why: str
) -> None:
    # it failed every evaluation instead: one error per agent, worded "not a valid regex:;"
    expression = f"\"object.tools.all(t, !t.wildcard && !t.name.matches('{pattern}'))\""
    governed.replace(LEAST, WILDCARD, expression)
    code, data = check_json(governed, capsys)
    assert code == 1
    violations = data["violations"]
    assert isinstance(violations, list) and len(violations) == 1
    (bad,) = violations
    column = expression.index(pattern) - 1  # 1-based, within the expression
    assert bad["kind"] == "bad-policy" and bad["code"] == "policy-expression"
    assert (bad["file"], bad["line"], bad["agent"]) == (LEAST, 14, None)
    assert bad["message"] == (
        f"policy least-privilege, no-wildcard-grants: pattern {pattern!r} cannot run: {why}; "
        f"expected RE2 syntax (no lookaround or backreferences) (column {column} of the "
        "expression)"
    )


def test_a_pattern_the_engine_runs_is_no_finding(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    expression = "\"object.tools.all(t, !t.wildcard && !t.name.matches('^(?i)zzz\\\\\\\\.'))\""
    governed.replace(LEAST, WILDCARD, expression)
    code, data = check_json(governed, capsys)
    assert (code, data["violations"]) == (0, [])
