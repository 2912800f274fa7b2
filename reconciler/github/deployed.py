"""`alm github deployed`: on a push to main, comment on the merged pull request what the
merge deploys where (until deploys land: what it would deploy), in one sticky comment.

What to say is pure (`message`); the deploy steps come from a plan report's `deploy`
section when one is given, else from the repository: the agents whose spec changed
between the push's `before` and `after`, in promotion order (plan.deploy_order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import AlmError
from reconciler.github import comment, sticky
from reconciler.github.api import Api, Pull
from reconciler.plan import deploy_order, diff
from reconciler.plan.markdown import md_text
from reconciler.plan.model import EnvironmentStep
from reconciler.spec.state import DesiredState

MARKER = "<!-- alm:deployed -->"


@dataclass(frozen=True)
class Merged:
    pull: Pull | None
    why: str  # when there is no merged pull request to comment on


def merged_pull(pulls: Sequence[Pull], sha: str) -> Merged:
    for pull in pulls:
        if pull.merged and pull.merge_commit_sha == sha:
            return Merged(pull, "")
    closed = [p for p in pulls if p.state == "closed" and not p.merged]
    if closed:
        numbers = ", ".join(f"#{p.number}" for p in closed)
        return Merged(None, f"pull request {numbers} was closed without merging: nothing deploys")
    return Merged(None, f"no merged pull request has {sha[:12]} as its merge commit: no comment")


def changed_agents(before: DesiredState | None, after: DesiredState) -> list[str]:
    """Agents added or whose spec changed (every agent when there is no `before`)."""
    old = {a.name: diff.agent_view(a) for a in before.agents} if before else {}
    return sorted(a.name for a in after.agents if old.get(a.name) != diff.agent_view(a))


def steps_from_state(before: DesiredState | None, after: DesiredState) -> list[EnvironmentStep]:
    return deploy_order.deploy_steps(after, changed_agents(before, after))


def message(sha: str, steps: Sequence[EnvironmentStep]) -> str:
    lines = [MARKER, f"### alm: what merging {sha[:12]} would deploy", ""]
    busy = [s for s in steps if s.agents]
    if not busy:
        lines.append("No agent changed: nothing to deploy.")
    for number, step in enumerate(busy, start=1):
        agents = ", ".join(md_text(a) for a in step.agents)
        gates = f" (gates: {md_text(', '.join(step.gates))})" if step.gates else ""
        lines.append(f"{number}. **{md_text(step.environment)}**: {agents}{gates}")
    lines += ["", "_Deploys are not applied yet: this is what would deploy, in promotion order._"]
    return "\n".join(lines)


def post(api: Api, pull: Pull, text: str) -> str:
    if sticky.utf16_length(text) > sticky.LIMIT:
        raise AlmError(f"the deploy comment is over {sticky.LIMIT} characters; nothing posted")
    return comment.upsert(api, pull.number, text, MARKER)
