"""The evals gate of alm apply (`gates.evals_pass`): the agents whose revision would
change are evaluated at the applied commit, as `alm plan` evaluates a pull request
(reconciler.cli.plan_evals: replaying cassettes, the result cache first), or their
results are taken from `--evals RESULTS.json` when those were computed for the same
agent (the bundle hash each agent's results record: reconciler.evals.bundle.run_hash).
Which actions to hold is reconciler.deploy.gates's; this module runs and reads evals.

The agents held at the last apply are recorded (`.alm/holds/<env>.json`, atomic) so
that `alm status` can say why an agent is out of sync without running anything. Behind a
symlink out of the repository, or committed to it, the file is never touched: apply
refuses (before it writes anything), status reads no holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.deploy_context import EnvContext
from reconciler.cli.output import printable
from reconciler.deploy import gates
from reconciler.deploy.engine import Replan
from reconciler.deploy.gates import EvalOutcome
from reconciler.deploy.model import Action, DeployPlan, Live, Unreadable
from reconciler.errors import AlmError, UsageError
from reconciler.fsutil import write_atomic
from reconciler.spec.state import DesiredState
from reconciler.tracked import foreign, refuse_foreign
from reconciler.wording import plural

if TYPE_CHECKING:  # the eval machinery loads when an agent is gated (~0.7 s otherwise)
    from reconciler.evals.gate import GateCheck
    from reconciler.evals.results import Results

MAX_HOLDS_BYTES = 16 << 20


@dataclass(frozen=True)
class Gated:
    plan: DeployPlan
    outcomes: dict[str, EvalOutcome] = field(default_factory=dict)


def _note(text: str) -> None:
    click.echo(printable(f"alm: {text}"), err=True)


def read_given(path: Path) -> Results:
    """The --evals file, read and checked before anything is planned: a malformed one is a
    usage error (exit 2) naming it, whether or not this apply would have needed it."""
    from reconciler.evals.results import read

    try:
        return read(path)
    except AlmError as exc:
        raise UsageError(
            f"--evals: {exc.message}; expected a results file that alm eval --out wrote"
        ) from None


def gate_plan(ctx: EnvContext, plan: DeployPlan, given: Results | None) -> Gated:
    """The plan with the agents whose evals do not pass held; nothing is loaded or run
    when the environment does not gate on evals or no revision would change."""
    agents = gates.to_evaluate(plan)
    if given is not None and not ctx.environment.gates.evals_pass:
        _note(f"--evals: not used: {ctx.name} does not gate on evals (gates.evals_pass: false)")
    if not ctx.environment.gates.evals_pass or not agents:
        return Gated(plan)
    commit = ctx.commit or ctx.ref
    state = ctx.app.load(commit)  # with the eval suites the deploy context leaves out
    outcomes = from_given(given, state, agents) if given is not None else {}
    todo = [a for a in agents if a not in outcomes]
    if todo:
        from reconciler.cli.plan_evals import Side, run_side

        results, _ = run_side(ctx.app, Side(state, commit, commit, "evals"), todo)
        outcomes.update({a: outcome_of(results, a, _folder(state, a)) for a in todo})
    return Gated(gates.hold_failing(plan, outcomes), outcomes)


def replanner(ctx: EnvContext, base: Replan, outcomes: Mapping[str, EvalOutcome]) -> Replan:
    """An agent planned again after a Conflict goes through the same evals gate (one not
    evaluated before is held: the next apply evaluates it)."""
    if not ctx.environment.gates.evals_pass:
        return base

    def again(agent: str, fresh: Live | Unreadable | None) -> Action:
        return gates.gate(base(agent, fresh), outcomes)

    return again


def _folder(state: DesiredState, agent: str) -> str:
    spec = state.agent(agent)
    return spec.folder if spec is not None else agent


def from_given(
    results: Results, state: DesiredState, agents: Sequence[str]
) -> dict[str, EvalOutcome]:
    """The outcomes --evals holds for the agents whose results are for the same bundle; the
    others (another bundle, absent, a partial run) are left to evaluate here, saying why."""
    found: dict[str, EvalOutcome] = {}
    for agent in agents:
        why = _unusable(results, state, agent)
        if why:
            _note(f"--evals: {agent}: {why}; evaluating it here")
        else:
            found[agent] = outcome_of(results, agent, _folder(state, agent))
    return found


def _unusable(results: Results, state: DesiredState, agent: str) -> str:
    spec, mine = state.agent(agent), results.agent(agent)
    if spec is None or mine is None:
        return "no results for it in the file"
    if not results.run.whole:
        return "the file holds part of a run (a shard or a --case/--tag selection)"
    from reconciler.evals.bundle import run_hash

    if mine.bundle_hash != run_hash(spec, state):
        return "its results are for another bundle than the one deploying"
    return ""


def outcome_of(results: Results, agent: str, folder: str) -> EvalOutcome:
    """Passed only when every trial ran and every declared threshold holds."""
    missing = next((n for n in results.run.not_evaluated if n.agent in (agent, folder)), None)
    if missing is not None:
        return EvalOutcome(agent, False, f"evals cannot run: {missing.reason}")
    result = results.agent(agent)
    if result is None:
        return EvalOutcome(agent, False, "evals cannot run: no results for it")
    cases = results.cases_of(agent)
    not_run = [c for c in cases if not c.graded]
    if not_run:
        first = not_run[0]
        return EvalOutcome(
            agent,
            False,
            f"evals could not run: {len(not_run)} of {plural(len(cases), 'trial')} not run "
            f"(first: {first.suite}/{first.case_id}: {first.reason})",
        )
    if not result.gate.passed:
        missed = [_missed(c) for c in result.gate.checks if c.status != "passed"]
        return EvalOutcome(agent, False, "evals fail: " + "; ".join(missed))
    return EvalOutcome(agent, True, f"evals pass ({plural(len(cases), 'trial')})")


def _missed(check: GateCheck) -> str:
    if check.status == "not_measured" or check.value is None:
        return f"{check.metric} {check.reason}"
    if check.min is not None and check.value < check.min:
        return f"{check.metric} {check.value:.2f} < min {check.min:g}"
    return f"{check.metric} {check.value:.2f} > max {check.max:g}"


# --- what status shows: the holds of the last apply ------------------------------------


def holds_path(root: Path, environment: str) -> Path:
    return root / ".alm" / "holds" / f"{environment}.json"


def record_holds(root: Path, plan: DeployPlan, at: str) -> None:
    """The agents the plan holds, with why, for `alm status` (none: the file removed)."""
    path = holds_path(root, plan.environment)
    refuse_foreign(root, path, what="the holds file")  # never overwrite or delete a commit's
    held = {
        a.agent: {"before": a.before, "after": a.after, "reason": a.reason, "at": at}
        for a in plan.actions
        if a.kind == "held"
    }
    if held:
        write_atomic(path, json.dumps(held, sort_keys=True, indent=1))
    else:
        path.unlink(missing_ok=True)


def read_holds(root: Path, environment: str) -> dict[str, dict[str, Any]]:
    """The last apply's holds; a missing, oversized or unreadable file is no holds (it is
    a note for status, never an input to a plan), nor is one a commit brought."""
    path = holds_path(root, environment)
    if foreign(root, path):
        return {}
    try:
        if path.stat().st_size > MAX_HOLDS_BYTES:
            return {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}


def why_rows(
    rows: list[dict[str, Any]], holds: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each status row with `why`: the last apply's reason for holding the agent, when it
    still wants the revision that apply held and is not Synced (else None)."""
    out = []
    for row in rows:
        held = holds.get(row["name"])
        current = held is not None and held.get("after") == row["desired"]
        why = f"held: {held['reason']}" if held and current and row["sync"] != "Synced" else None
        out.append({**row, "why": why})
    return out
