"""The `cost:` limit of kind Policy: its shape, its errors with file:line:col, its schema."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from reconciler.spec.catalog import Match
from reconciler.spec.loader import load_snapshot
from tests.test_spec_minifleet import at, mini_snapshot, only, pos
from tests.test_spec_schema import schema_of

POLICY = "policies/spend.yaml"
HEAD = "apiVersion: alm/v1\nkind: Policy\nmetadata: {name: spend}\n"


def test_a_cost_limit_loads_with_either_or_both_limits() -> None:
    for block, usd, pct in [
        ("cost: {max_monthly_increase_usd: 500}\n", 500.0, None),
        ("cost: {max_monthly_increase_pct: 25}\n", None, 25.0),
        ("cost:\n  max_monthly_increase_usd: 0\n  max_monthly_increase_pct: 12.5\n", 0.0, 12.5),
    ]:
        state = load_snapshot(mini_snapshot({POLICY: (HEAD + block).encode()}))
        assert state.findings == []
        (policy,) = [p.model for p in state.policies if p.model.metadata.name == "spend"]
        assert policy.cost is not None
        assert (policy.cost.max_monthly_increase_usd, policy.cost.max_monthly_increase_pct) == (
            usd,
            pct,
        )


def test_a_policy_without_cost_has_none() -> None:
    state = load_snapshot(mini_snapshot({POLICY: HEAD.encode()}))
    (policy,) = [p.model for p in state.policies if p.model.metadata.name == "spend"]
    assert policy.cost is None


@pytest.mark.parametrize(
    ("block", "needle", "code", "expected"),
    [
        (
            "cost: {max_monthly_increase_usd: -1}\n",
            "-1",
            "schema",
            "greater than or equal to 0",
        ),
        (
            "cost:\n  max_monthly_increase_pct: many\n",
            "many",
            "schema",
            "valid number",
        ),
        (
            "cost:\n  max_monthly_increase: 500\n",
            "max_monthly_increase:",
            "unknown-field",
            "(did you mean 'max_monthly_increase_usd'?)",
        ),
        (
            "cost: {}\n",
            "{}",
            "schema",
            "cost expects max_monthly_increase_usd or max_monthly_increase_pct (or both)",
        ),
    ],
)
def test_a_bad_cost_limit_is_an_error_at_its_place(
    block: str, needle: str, code: str, expected: str
) -> None:
    text = HEAD + block
    state = load_snapshot(mini_snapshot({POLICY: text.encode()}))
    finding = only(state.findings, code)
    assert finding.severity == "error"
    assert at(finding) == (POLICY, *pos(text, needle))
    assert expected in finding.message
    assert [p.model.metadata.name for p in state.policies].count("spend") == 0


def test_the_schema_asks_for_at_least_one_limit() -> None:
    validator = Draft202012Validator(schema_of("Policy"))
    document = {"apiVersion": "alm/v1", "kind": "Policy", "metadata": {"name": "spend"}}
    assert validator.is_valid({**document, "cost": {"max_monthly_increase_usd": 500}})
    assert validator.is_valid({**document, "cost": {"max_monthly_increase_pct": 25}})
    assert not validator.is_valid({**document, "cost": {}})
    assert not validator.is_valid({**document, "cost": {"max_monthly_increase_usd": None}})
    assert not validator.is_valid({**document, "cost": {"max_monthly_increase_usd": -1}})
    assert not validator.is_valid({**document, "cost": {"max_increase": 5}})


def test_match_selects_by_every_label() -> None:
    match = Match(labels={"tier": "customer-facing", "domain": "support"})
    assert match.selects({"tier": "customer-facing", "domain": "support", "x": "y"})
    assert not match.selects({"tier": "customer-facing"})
    assert not match.selects({"tier": "internal", "domain": "support"})
    assert Match().selects({})
