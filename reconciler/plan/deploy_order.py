"""On merge: the environments in promotion order, which changed agents deploy to each,
and the gates each environment holds, in words (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.plan.model import EnvironmentStep
from reconciler.spec.catalog import Environment, Gates
from reconciler.spec.state import DesiredState


def gate_words(gates: Gates, previous: str | None) -> list[str]:
    """``evals pass``, ``staging healthy``, ``approval from @acme/platform``, ``soak 30
    minutes``: what must hold before this environment receives the change."""
    words = ["evals pass"] if gates.evals_pass else []
    if gates.previous_environment and previous is not None:
        words.append(f"{previous} healthy")
    if gates.approvals:
        words.append(f"approval from {' or '.join(gates.approvals)}")
    if gates.soak_minutes:
        minutes = gates.soak_minutes
        words.append(f"soak {minutes} minute{'s' * (minutes != 1)}")
    return words


def environments(state: DesiredState) -> list[Environment]:
    """The first Environments document's environments, in its promotion order (as the
    state's environment_order: a second document is an error alm validate reports)."""
    return list(state.environments[0].model.environments) if state.environments else []


def deploy_steps(head: DesiredState, changed: Iterable[str]) -> list[EnvironmentStep]:
    """Every environment in promotion order with the changed agents (present at head) that
    deploy there."""
    names = set(changed)
    specs = sorted((s for s in head.agents if s.name in names), key=lambda s: s.name)
    steps = []
    previous: str | None = None
    for env in environments(head):
        agents = [s.name for s in specs if env.name in s.agent.deploy.environments]
        steps.append(
            EnvironmentStep(
                environment=env.name, agents=agents, gates=gate_words(env.gates, previous)
            )
        )
        previous = env.name
    return steps
