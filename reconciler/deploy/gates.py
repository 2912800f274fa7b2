"""The evals gate of a deploy plan (`gates.evals_pass`), pure: which actions to hold given
each agent's eval outcome. Running the evals is the CLI's (reconciler.cli.deploy_evals).

An environment must not take a revision whose evals fail. The agents that need an
outcome are those whose revision would change here: a `create`, or an `update` or
`repair` that writes another revision than the live one (a pin lifted, or a repair of
the same revision, writes nothing new: no outcome needed). Such an action with no
outcome, or a failed one, becomes `held` with the reason; the others go ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from reconciler.deploy.model import Action, DeployPlan

NOT_EVALUATED = "evals not run for this revision: it changed on the target during this apply"


@dataclass(frozen=True)
class EvalOutcome:
    """One agent's evals at the revision it would deploy: passed, or why not
    (e.g. "evals fail: task_success_rate 0.42 < min 0.9")."""

    agent: str
    passed: bool
    reason: str


def needs_evals(action: Action) -> bool:
    """Whether the action would put another revision on the target."""
    if action.kind == "create":
        return True
    return action.kind in ("update", "repair") and action.before != action.after


def to_evaluate(plan: DeployPlan) -> list[str]:
    """The agents whose evals decide whether they deploy, in plan order."""
    return [a.agent for a in plan.actions if needs_evals(a)]


def gate(
    action: Action, outcomes: Mapping[str, EvalOutcome], missing: str = NOT_EVALUATED
) -> Action:
    """The action, or `held` when it needs evals that did not pass (`missing`: the reason
    when there is no outcome for it)."""
    if not needs_evals(action):
        return action
    outcome = outcomes.get(action.agent)
    if outcome is not None and outcome.passed:
        return action
    why = outcome.reason if outcome is not None else missing
    return Action("held", action.agent, action.before, action.after, why)


def hold_failing(plan: DeployPlan, outcomes: Mapping[str, EvalOutcome]) -> DeployPlan:
    """The plan with every action whose evals did not pass held (its bundle not written)."""
    actions = tuple(gate(a, outcomes) for a in plan.actions)
    warnings = [
        f"{a.agent}: the live bundle was edited in place; it is held by its evals, so not repaired"
        for old, a in zip(plan.actions, actions, strict=True)
        if old.kind == "repair" and a.kind == "held"
    ]
    return replace(plan, actions=actions, warnings=(*plan.warnings, *warnings))


def held_by_evals(plan: DeployPlan, outcomes: Mapping[str, EvalOutcome]) -> list[str]:
    """The agents the evals gate holds in `plan` (after hold_failing)."""
    return [
        a.agent
        for a in plan.actions
        if a.kind == "held" and (o := outcomes.get(a.agent)) is not None and not o.passed
    ]
