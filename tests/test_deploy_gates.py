"""The gates alm owns, pure: the evals gate (reconciler.deploy.gates: which actions to hold
given each agent's eval outcome) and the previous-environment gate per agent
(reconciler.deploy.plan.Promotion: the nearest earlier environment the agent lists)."""

from __future__ import annotations

from typing import Any

from reconciler.deploy import gates
from reconciler.deploy.gates import EvalOutcome
from reconciler.deploy.model import Action, Bundle, DeployPlan, Live, Pin, revision_of
from reconciler.deploy.plan import UNGATED, Promotion, gate_environment, plan

ORDER = ["dev", "staging", "prod"]


def bundle(agent: str, env: str, version: int = 1, **extra: Any) -> Bundle:
    content = {"agent": agent, "version": version}
    return Bundle(
        agent=agent, environment=env, revision=revision_of(content), content=content, **extra
    )


def live(b: Bundle) -> Live:
    return Live(b, f"v-{b.revision[-8:]}")


def edited(b: Bundle) -> Live:
    return live(b.model_copy(update={"content": {**b.content, "edited": True}}))


def kinds(p: DeployPlan) -> dict[str, str]:
    return {a.agent: a.kind for a in p.actions}


# --- promotion, per agent -------------------------------------------------------------


def test_the_gate_is_the_nearest_earlier_environment_the_agent_lists() -> None:
    assert gate_environment(ORDER, "prod", ["dev", "staging", "prod"]) == "staging"
    assert gate_environment(ORDER, "prod", ["dev", "prod"]) == "dev"
    assert gate_environment(ORDER, "staging", ["staging", "prod"]) is None
    assert gate_environment(ORDER, "dev", ["dev"]) is None
    assert gate_environment(ORDER, "prod", ["prod", "staging"]) == "staging"  # order is ORDER's


def test_an_agent_listing_no_earlier_environment_is_not_held_and_the_reason_says_so() -> None:
    # deploy.environments: [staging, prod] while dev precedes staging
    desired = {"late": bundle("late", "staging"), "usual": bundle("usual", "staging")}
    promotion = Promotion({"late": None, "usual": "dev"}, {"dev": {}})
    made = plan("staging", desired, {}, previous=promotion)
    assert kinds(made) == {"late": "create", "usual": "held"}
    late = made.actions[0]
    assert UNGATED in late.reason and late.bundle is not None
    assert "not live in dev yet (not deployed there)" in made.actions[1].reason


def test_each_agent_is_held_by_its_own_previous_environment() -> None:
    skip = bundle("skip", "prod")  # lists [dev, prod]: its gate is dev, not staging
    usual = bundle("usual", "prod")  # lists all three: staging
    promotion = Promotion(
        {"skip": "dev", "usual": "staging"},
        {"dev": {"skip": live(bundle("skip", "dev")), "usual": live(bundle("usual", "dev"))}},
    )
    made = plan("prod", {"skip": skip, "usual": usual}, {}, previous=promotion)
    assert kinds(made) == {"skip": "create", "usual": "held"}
    assert made.actions[0].reason == "new in this environment"  # gated, and it passed
    assert "not live in staging yet" in made.actions[1].reason


def test_a_revision_edited_in_place_in_its_previous_environment_holds() -> None:
    want = bundle("a", "prod", 2)
    promotion = Promotion({"a": "dev"}, {"dev": {"a": edited(bundle("a", "dev", 2))}})
    have = {"a": live(bundle("a", "prod", 1))}
    made = plan("prod", {"a": want}, have, previous=promotion)
    assert kinds(made) == {"a": "held"} and "live there" in made.actions[0].reason


def test_an_update_of_an_ungated_agent_says_so() -> None:
    have = {"a": live(bundle("a", "staging", 1))}
    made = plan("staging", {"a": bundle("a", "staging", 2)}, have, previous=Promotion({}, {}))
    assert kinds(made) == {"a": "update"}
    assert made.actions[0].reason == f"the desired revision changed; {UNGATED}"


def test_one_previous_environment_for_every_agent_still_plans_as_before() -> None:
    previous = {"a": live(bundle("a", "dev", 1))}
    made = plan("staging", {"a": bundle("a", "staging", 1)}, {}, previous=previous)
    assert kinds(made) == {"a": "create"} and UNGATED not in made.actions[0].reason


# --- the evals gate -------------------------------------------------------------------


def _plan() -> DeployPlan:
    new, changed, same = bundle("new", "dev"), bundle("changed", "dev", 2), bundle("same", "dev")
    was = bundle("changed", "dev", 1)
    pinned = bundle(
        "pinned", "dev", 1, pin=Pin(revision=bundle("pinned", "dev", 1).revision, at="t", by="me")
    )
    return plan(
        "dev",
        {
            "new": new,
            "changed": changed,
            "same": same,
            "pinned": bundle("pinned", "dev", 1),  # the pin is lifted: same revision
            "fixed": bundle("fixed", "dev", 1),
        },
        {
            "changed": live(was),
            "same": live(same),
            "pinned": live(pinned),
            "fixed": edited(bundle("fixed", "dev", 1)),  # repaired to the same revision
        },
    )


def test_only_actions_that_change_the_revision_need_evals() -> None:
    made = _plan()
    assert kinds(made) == {
        "changed": "update",
        "fixed": "repair",
        "new": "create",
        "pinned": "update",
        "same": "unchanged",
    }
    assert gates.to_evaluate(made) == ["changed", "new"]


def test_failing_or_missing_outcomes_hold_and_passing_ones_go_ahead() -> None:
    made = _plan()
    outcomes = {
        "new": EvalOutcome("new", False, "evals fail: task_success_rate 0.42 < min 0.9"),
        "changed": EvalOutcome("changed", True, "evals pass (3 trials)"),
    }
    gated = gates.hold_failing(made, outcomes)
    assert kinds(gated) == {**kinds(made), "new": "held"}
    new = next(a for a in gated.actions if a.agent == "new")
    assert new.reason == "evals fail: task_success_rate 0.42 < min 0.9" and new.bundle is None
    assert new.after == made.actions[2].after  # the revision it would have deployed
    assert gates.held_by_evals(gated, outcomes) == ["new"]
    none = gates.hold_failing(made, {})
    assert kinds(none)["changed"] == "held" and kinds(none)["new"] == "held"
    held = next(a for a in none.actions if a.agent == "changed")
    assert held.reason == gates.NOT_EVALUATED
    assert gates.held_by_evals(none, {}) == []  # no outcome: not "held by evals" results


def test_a_repair_to_another_revision_is_gated_and_warned() -> None:
    made = plan("dev", {"a": bundle("a", "dev", 2)}, {"a": edited(bundle("a", "dev", 1))})
    assert kinds(made) == {"a": "repair"} and gates.to_evaluate(made) == ["a"]
    gated = gates.hold_failing(made, {"a": EvalOutcome("a", False, "evals fail: x")})
    assert kinds(gated) == {"a": "held"}
    assert any("held by its evals, so not repaired" in w for w in gated.warnings)


def test_a_replanned_action_goes_through_the_same_gate() -> None:
    update = Action("update", "a", "sha256:1", "sha256:2", "changed", bundle("a", "dev", 2))
    assert gates.gate(update, {}).kind == "held"
    passed = {"a": EvalOutcome("a", True, "evals pass (1 trials)")}
    assert gates.gate(update, passed) is update
    unchanged = Action("unchanged", "a", "sha256:2", "sha256:2")
    assert gates.gate(unchanged, {}) is unchanged
