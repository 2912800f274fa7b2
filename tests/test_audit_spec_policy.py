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
