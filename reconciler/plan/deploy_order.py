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


def _listed(state: DesiredState, environment: str) -> set[str]:
    return {s.name for s in state.agents if environment in s.agent.deploy.environments}


def _leaving(base: DesiredState | None, head: DesiredState, environment: str) -> list[str]:
    """Agents base deploys to the environment and head no longer does (deleted, renamed,
    or the environment dropped), leaving out those that do not load at head: unknown."""
    if base is None:
        return []
    loaded = {s.name for s in head.agents}
    unknown = {
        s.name for s in base.agents if s.name not in loaded and s.folder in head.agent_folders
    }
    return sorted(_listed(base, environment) - _listed(head, environment) - unknown)


def deploy_steps(
    head: DesiredState, changed: Iterable[str], base: DesiredState | None = None
) -> list[EnvironmentStep]:
    """Every environment in promotion order with the changed agents (present at head) that
    deploy there, and the agents of base that no longer do: `alm apply` leaves them
    deployed (`stays`) until `--prune` deletes them."""
    names = set(changed)
    specs = sorted((s for s in head.agents if s.name in names), key=lambda s: s.name)
    steps = []
    previous: str | None = None
    for env in environments(head):
        agents = [s.name for s in specs if env.name in s.agent.deploy.environments]
        steps.append(
            EnvironmentStep(
                environment=env.name,
                agents=agents,
                gates=gate_words(env.gates, previous),
                stays=_leaving(base, head, env.name),
            )
        )
        previous = env.name
    return steps
