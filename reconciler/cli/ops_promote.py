"""`alm ops promote`: production failures back into eval cases, for a person to review.

`alm ops promote TRACE_ID [--agent A]` turns the agent's task(s) in one trace into eval
cases; `alm ops promote --failures [window] [--agent A] [--limit N]` proposes one case
per distinct failure of the window (reconciler.ops.promote.group_failures). Cases go to
evals/<agent>/production.yaml, masked with the agent's forbid_output_patterns, marked
`needs_review: true`; `--dry-run` prints them instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.ops_options import source_options, window_of, window_options
from reconciler.cli.output import printable
from reconciler.errors import AlmError, ExitCode, UsageError
from reconciler.evals.records import CaseResult
from reconciler.ops.mask import masker_for, rules_of
from reconciler.ops.model import Task, TaskSource, Window
from reconciler.ops.online import Grader
from reconciler.ops.promote import case_from_task, case_id, case_yaml, group_failures, is_trace_id
from reconciler.ops.promote_file import append_case, proposed_text, suite_file
from reconciler.pricing import PriceBook
from reconciler.spec.state import DesiredState


@dataclass(frozen=True)
class Proposal:
    task: Task
    result: CaseResult
    what: str  # what went wrong, for the listing
    count: int = 1  # tasks of the window that failed this way


@click.command("promote")
@click.argument("trace_id", required=False, metavar="[TRACE_ID]")
@click.option("--agent", metavar="NAME", help="the agent whose task becomes a case")
@click.option("--failures", is_flag=True, help="one case per distinct failure of the window")
@click.option("--limit", type=click.IntRange(min=1), help="with --failures: at most N cases")
@click.option("--dry-run", is_flag=True, help="print the cases; write nothing")
@window_options
@source_options
@pass_app
def promote(
    app: App,
    trace_id: str | None,
    agent: str | None,
    failures: bool,
    limit: int | None,
    dry_run: bool,
    since: str | None,
    until: str | None,
    hours: float | None,
    db: Path | None,
    source: str | None,
) -> int:
    """Turn a production trace, or each distinct failure of a window, into an eval case in
    evals/<agent>/production.yaml, with PII masked and marked for review."""
    windowed = since is not None or until is not None or hours is not None
    if failures == (trace_id is not None):
        raise UsageError("expected a TRACE_ID or --failures (one of them)")
    if not failures and (windowed or limit is not None):
        raise UsageError("--since, --until, --hours and --limit go with --failures")
    state = app.load()
    _known_agent(state, agent)
    from reconciler.ops.sources import open_source  # the store is opened only here

    tasks = open_source(app.root, db, source)
    graders = _graders(state, agent)
    if failures:
        window = window_of(since, until, hours)
        proposals = _window_failures(tasks, graders, agent, limit, window)
        if not proposals:
            who = agent or "any agent"
            click.echo(f"no failed task of {who} in {window.describe()} ({tasks.label})")
            return ExitCode.OK
    else:
        proposals = list(_trace(tasks, graders, str(trace_id), agent))
    for line in _write(app.root, state, proposals, dry_run):
        click.echo(line)
    return ExitCode.OK


def _known_agent(state: DesiredState, agent: str | None) -> None:
    names = sorted(spec.name for spec in state.agents)
    if agent is not None and agent not in names:
        raise UsageError(f"--agent: no agent named {agent!r}; agents: {', '.join(names)}")


def _graders(state: DesiredState, agent: str | None) -> dict[str, Grader]:
    prices = PriceBook(p for doc in state.pricing for p in doc.model.models)
    return {
        spec.name: Grader(spec.agent, prices, state.tools)
        for spec in state.agents
        if agent is None or spec.name == agent
    }


def _trace(
    tasks: TaskSource, graders: Mapping[str, Grader], trace_id: str, agent: str | None
) -> Iterator[Proposal]:
    trace = trace_id.strip().lower()
    if not is_trace_id(trace):
        raise UsageError(f"TRACE_ID {trace_id!r}: expected 32 hex digits (a W3C trace id)")
    found = tasks.task(trace)
    if not found:
        raise AlmError(
            f"trace {trace} not found in {tasks.label} (searched every ingested task, in any "
            "window); expected the id of a trace `alm ops ingest` has read"
        )
    agents = sorted({task.agent for task in found})
    if agent is None and len(agents) > 1:
        raise UsageError(f"trace {trace} has tasks of {', '.join(agents)}; expected --agent")
    chosen = agent or agents[0]
    mine = [task for task in found if task.agent == chosen]
    if not mine:
        raise AlmError(
            f"trace {trace} has no task of agent {chosen}; it has tasks of: {', '.join(agents)}"
        )
    for task in mine:
        result = graders[chosen].result(task)
        yield Proposal(task, result, f"production run {result.status}")


def _window_failures(
    tasks: TaskSource,
    graders: Mapping[str, Grader],
    agent: str | None,
    limit: int | None,
    window: Window,
) -> list[Proposal]:
    graded = (
        (task, graders[task.agent].result(task))
        for task in tasks.tasks(window, None, agent)
        if task.agent in graders
    )
    return [
        Proposal(group.task, group.result, group.signature.describe(), group.count)
        for group in group_failures(graded, limit)
    ]


def _write(
    root: Path, state: DesiredState, proposals: list[Proposal], dry_run: bool
) -> Iterator[str]:
    written = 0
    for proposal in proposals:
        task = proposal.task
        spec = state.agent(task.agent)
        assert spec is not None  # graded by the agent's own grader
        masker = masker_for(spec.agent)
        if not masker.active:
            yield f"warning: {task.agent} declares no forbid_output_patterns: nothing is masked"
        case = case_from_task(task, spec.agent, proposal.result, masker)
        text = case_yaml(case, spec.folder)
        many = f", {proposal.count} tasks" if proposal.count > 1 else ""
        what = masker.text(proposal.what)  # error texts from the trace: masked like the case
        head = printable(f"{case['id']} ({task.agent}: {what}{many}; trace {task.trace_id})")
        if dry_run:
            path = suite_file(root, spec.folder).relative_to(root).as_posix()
            yield f"# would append to {path}: {head}"
            yield printable(proposed_text(root, spec.folder, text).rstrip("\n"))
            continue
        known = {c.id for s in state.suites.get(spec.folder, []) for c in s.model.cases}
        done = append_case(root, spec.folder, case_id(task), text, known)
        verb = "added to" if done.status == "written" else "already in"
        written += done.status == "written"
        masked = f", masked with {', '.join(rules_of(masker))}" if masker.active else ""
        yield f"{head}: {verb} {done.path}{masked}"
    yield from _next_steps(written, dry_run)


def _next_steps(written: int, dry_run: bool) -> Iterator[str]:
    if dry_run or not written:
        return
    yield (
        f"{written} case{'s' if written > 1 else ''} marked needs_review: alm validate reports "
        "each until a person reviews its input, fixtures and expect: block and deletes the "
        "marker. In replay a new case is not run until its model responses are recorded "
        "(alm eval --agent A --case ID --mode record)."
    )
