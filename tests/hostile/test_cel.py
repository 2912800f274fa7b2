"""Hostile CEL policies (issue 9, classes 3 and 4): no hang, no crash, a finding instead.

Each attack is a policy a pull request adds. The check must exit 1 with a finding at
the expression's file:line:column, and still check everything else: the other
policies still run on every agent (a planted cost violation is still reported).
Attacks whose risk is a hang run the CLI in a subprocess under a generous guard.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.policy.celparse import MAX_LENGTH
from reconciler.policy.cost import BUDGET
from tests.cli import run_process
from tests.gitrepo import GitRepo
from tests.test_policy_fleet import check_json, governed

__all__ = ["governed"]

HANG_GUARD = 120  # seconds: only so a regression fails instead of hanging the suite
WHERE = ("policies/hostile.yaml", 6, 17)  # the expression's value
PLANTED = ("cost/ceiling-per-task", "sales-research", None)


def plant(repo: GitRepo, expression: str) -> None:
    """The attack, and one ordinary violation of another policy that must still show."""
    repo.write(
        "policies/hostile.yaml",
        "apiVersion: alm/v1\nkind: Policy\n"
        'metadata: {name: hostile, owners: ["@acme/platform"]}\n'
        "validations:\n  - id: attack\n"
        f"    expression: {json.dumps(expression)}\n"
        "    message: the attack failed\n",
    )
    repo.replace(
        "agents/sales-research/agent.yaml",
        "max_cost_usd_per_task: 0.03",
        "max_cost_usd_per_task: 2",
    )


def alm_json(repo: GitRepo, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_process(repo.path, *args, "--format", "json", timeout=HANG_GUARD)
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, data


def attack_findings(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in data["violations"] if v["file"] == "policies/hostile.yaml"]


def assert_rest_checked(data: dict[str, Any], agents: int = 4) -> None:
    fired = {(v["rule"], v["agent"], v["environment"]) for v in data["violations"]}
    assert PLANTED in fired
    assert data["summary"]["agents"] == agents


LITERAL = "[" + ",".join(str(i) for i in range(300)) + "]"

STATIC = [
    # deep unary and bracket nesting: alm's own parser recursed until RecursionError
    ("!" * 3000 + "true", "policy-too-complex", "nests more than 32 levels"),
    ("-" * 2000 + "1 < 0", "policy-too-complex", "nests more than 32 levels"),
    ("(" * 1000 + "true" + ")" * 1000, "policy-too-complex", "nests more than 32 levels"),
    # a long mixed chain: a tree 1000 levels deep for the type checker
    ("1" + " - 1 + 1" * 450 + " > 0", "policy-too-complex", "nests 64+ levels deep"),
    ("object" + ".metadata" * 400 + " == null", "policy-too-complex", "nests 64+ levels deep"),
    # over the length cap: refused before the cel package's parser sees it
    ("!" * 100_000 + "true", "policy-too-complex", "characters long; expected at most 4096"),
    (" || ".join(["true"] * 5000), "policy-too-complex", "characters long"),
    ("(" * 10_000 + "true" + ")" * 10_000, "policy-too-complex", "characters long"),
    # cost: nested comprehensions over large literal lists, or nested too deep
    (
        f"{LITERAL}.all(x, {LITERAL}.all(y, {LITERAL}.all(z, x + y + z >= 0)))",
        "policy-too-costly",
        "even over empty data; expected at most 1,000,000",
    ),
    (
        "[1].all(a, [1].all(b, [1].all(c, [1].all(d, a + b + c + d > 0))))",
        "policy-too-costly",
        "nests comprehensions 4 deep (column 38 of the expression); expected at most 3",
    ),
]


@pytest.mark.parametrize(("expression", "code", "says"), STATIC, ids=range(len(STATIC)))
def test_a_hostile_expression_is_a_finding_at_its_place(
    governed: GitRepo, expression: str, code: str, says: str
) -> None:
    plant(governed, expression)
    exit_code, data = alm_json(governed, "policy", "check")
    assert exit_code == 1
    (finding,) = attack_findings(data)
    assert (finding["file"], finding["line"], finding["column"]) == WHERE
    assert finding["code"] == code and finding["kind"] == "bad-policy"
    assert says in finding["message"], finding["message"]
    assert_rest_checked(data)


def test_a_long_flat_chain_within_the_cap_is_fine(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """`a || a || ...` is one node with many operands: not deep, so not refused."""
    expression = " || ".join(["object.limits.max_steps > 0"] * 130)
    assert len(expression) <= MAX_LENGTH
    plant(governed, expression)
    code, data = check_json(governed, capsys)
    assert code == 1 and attack_findings(data) == []
    assert_rest_checked(data)


SCOPE = "object.contract.scope.out"


def _check_over_long_scope(repo: GitRepo, expression: str, items: int) -> dict[str, Any]:
    """The attack, sales-research's scope.out grown to `items` entries, and the check
    (which exits 1: the planted violation at least)."""
    plant(repo, expression)
    path = "agents/sales-research/agent.yaml"
    lines = "".join(f"      - out of scope item {i}\n" for i in range(items))
    repo.replace(path, "    out:\n", "    out:\n" + lines)
    code, data = alm_json(repo, "policy", "check")
    assert code == 1
    return data


def test_a_cost_that_grows_with_the_data_is_refused_for_that_agent_only(
    governed: GitRepo,
) -> None:
    """500^3 iterations would run for minutes and cannot be interrupted: the bound over
    the agent's own data refuses it there, and every other agent is still evaluated."""
    expression = f"{SCOPE}.all(a, {SCOPE}.all(b, {SCOPE}.all(c, a != b || b != c || true)))"
    data = _check_over_long_scope(governed, expression, 500)
    (finding,) = attack_findings(data)
    assert (finding["file"], finding["line"], finding["column"]) == WHERE
    assert finding["code"] == "policy-too-costly" and finding["kind"] == "runtime-error"
    assert finding["agent"] == "sales-research" and finding["rule"] == "hostile/attack"
    assert f"expected at most {BUDGET:,}" in finding["message"]
    assert "is not a pass" in finding["message"]
    assert_rest_checked(data)


def test_string_growth_over_the_data_is_bounded(governed: GitRepo) -> None:
    """Each iteration builds a string of many purposes: copying counts against the budget."""
    grow = " + ".join(["object.contract.purpose"] * 60)
    expression = f"{SCOPE}.all(a, {SCOPE}.all(b, size({grow}) > 0))"
    data = _check_over_long_scope(governed, expression, 200)
    findings = attack_findings(data)
    assert "sales-research" in {f["agent"] for f in findings}
    assert all(f["code"] == "policy-too-costly" for f in findings)
    assert_rest_checked(data)


def test_the_same_nesting_over_small_data_runs(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bound is over the data there is: the ordinary fleet is evaluated, not refused."""
    plant(governed, f"{SCOPE}.all(a, {SCOPE}.all(b, {SCOPE}.all(c, a != '' && b != c || true)))")
    code, data = check_json(governed, capsys)
    assert code == 1 and attack_findings(data) == []
    assert_rest_checked(data)
