"""alm plan: the whole pull request report, as markdown, JSON and HTML.

Loads base and head, validates both, checks the change against policy, evaluates the
affected agents on both sides (or reads two results files), builds the PlanReport
(reconciler.plan.build) and writes it. The files are written whatever the verdict.
Exit 0 when the plan is ready or pending approvals, 1 when it is blocked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.eval_support import OutFile, write_out
from reconciler.cli.output import printable
from reconciler.cli.plan_evals import EvalSides, Side, read_both, run_both
from reconciler.cli.policy_inputs import change_input
from reconciler.errors import AlmError, ExitCode
from reconciler.evals.bundle import affected_agents
from reconciler.github.context import read_event
from reconciler.plan import model, render_html, render_md
from reconciler.plan.build import PlanInputs, build
from reconciler.plan.event import pull_request_of
from reconciler.plan.model import Links, PlanReport, PullRequest, RefInfo
from reconciler.policy.check import check
from reconciler.spec import source
from reconciler.spec.checks import validate

SUMMARY_BUDGET = 1_000_000  # GitHub's job summary holds 1 MiB per step
SUMMARY_BYTES = 1 << 20
_OUT = OutFile()
_IN = click.Path(exists=True, dir_okay=False, path_type=Path)


@dataclass(frozen=True)
class Outputs:
    markdown: Path | None
    json: Path | None
    html: Path | None


# --- GitHub Actions -----------------------------------------------------------------------


def pull_request_from_env(env: Mapping[str, str]) -> PullRequest | None:
    """The pull request of a `pull_request` event (GITHUB_EVENT_PATH); None otherwise."""
    if env.get("GITHUB_EVENT_NAME") != "pull_request":
        return None
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        raise AlmError(
            "GITHUB_EVENT_NAME is pull_request but GITHUB_EVENT_PATH is not set; "
            "expected the path of the webhook payload (set by GitHub Actions)"
        )
    event = read_event(path)  # bounded, untrusted JSON; an object or an error
    return pull_request_of(event, path)


def links_from_env(env: Mapping[str, str]) -> Links:
    """The run's page (its artifacts hold the HTML report) and its job summary."""
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repository, run_id = env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    if not (repository and run_id):
        return Links()
    run = f"{server}/{repository}/actions/runs/{run_id}"
    summary = run if env.get("GITHUB_STEP_SUMMARY") else None
    return Links(html_report=run, job_summary=summary, run=run)


def summary_text(report: PlanReport) -> str:
    """The report within the job summary's size: budgeted in characters, then smaller
    while its UTF-8 bytes are over the limit."""
    budget = SUMMARY_BUDGET
    text = render_md.budgeted(report, budget)
    while len(text.encode("utf-8")) > SUMMARY_BYTES and budget > 1000:
        budget = budget * SUMMARY_BYTES // len(text.encode("utf-8")) - 1000
        text = render_md.budgeted(report, budget)
    return text


def write_summary(path: str, report: PlanReport) -> None:
    """Appended, as GitHub expects of each step writing to $GITHUB_STEP_SUMMARY."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(summary_text(report) + "\n")


# --- the plan -------------------------------------------------------------------------


def _base(app: App, ref: str) -> Side:
    return Side(app.load(ref), ref, source.resolve_ref(app.root, ref), "base")


def gather(
    app: App, base_ref: str, head_ref: str | None, evals: tuple[Path, Path] | None
) -> PlanInputs:
    env = os.environ
    pull_request = pull_request_from_env(env)  # a malformed event fails before any eval
    base = _base(app, base_ref)
    inp = change_input(app, base_ref, head_ref, base.state)
    head_commit = source.resolve_ref(app.root, head_ref) if head_ref is not None else None
    head = Side(inp.head, head_ref, head_commit, "head")
    affected = affected_agents(base.state, head.state)
    click.echo(f"affected: {', '.join(affected) or 'none'}", err=True)
    sides: EvalSides = read_both(*evals) if evals else run_both(app, base, head, affected)
    found = validate(head.state)
    return PlanInputs(
        base=base.state,
        head=head.state,
        base_ref=RefInfo(ref=base_ref, commit=base.commit),
        head_ref=RefInfo(ref=head_ref, commit=head_commit),
        policy=check(inp),
        head_findings=found,
        base_findings=validate(base.state) if found else [],  # only to tell the new ones
        affected=affected,
        base_results=sides.base,
        head_results=sides.head,
        trials=sides.trials,
        pull_request=pull_request,
        links=links_from_env(env),
    )


def write_outputs(report: PlanReport, out: Outputs) -> None:
    writers = (
        (out.markdown, render_md.full, "--out"),
        (out.json, model.to_json, "--json"),
        (out.html, render_html.render, "--html"),
    )
    for path, render, option in writers:
        if path is not None:
            write_out(path, render(report), option)


@click.command("plan")
@click.option("--base", "base_ref", required=True, help="The git ref the change is made on.")
@click.option("--head", "head_ref", help="The git ref of the change (default: the working tree).")
@click.option("--evals-base", type=_IN, help="Results JSON of the evals at base.")
@click.option("--evals-head", type=_IN, help="Results JSON of the evals at head.")
@click.option("--out", type=_OUT, help="Write the full report as markdown here.")
@click.option("--json", "json_out", type=_OUT, help="Write the report as JSON here.")
@click.option("--html", type=_OUT, help="Write the report as a self-contained HTML page here.")
@pass_app
def plan(
    app: App,
    base_ref: str,
    head_ref: str | None,
    evals_base: Path | None,
    evals_head: Path | None,
    out: Path | None,
    json_out: Path | None,
    html: Path | None,
) -> int:
    """The pull request report: verdict, changes, findings, approvals, evals base vs head,
    cost and what deploys on merge. Without --evals-* it evaluates the affected agents
    itself (replay, result cache first). Exit 1 when the plan is blocked."""
    if (evals_base is None) != (evals_head is None):
        raise click.UsageError("--evals-base and --evals-head go together; give both or neither")
    evals = (evals_base, evals_head) if evals_base and evals_head else None
    report = build(gather(app, base_ref, head_ref, evals))
    write_outputs(report, Outputs(out, json_out, html))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        write_summary(summary, report)
    click.echo(printable(render_md.full(report)))
    return ExitCode.INVALID if report.verdict.status == "blocked" else ExitCode.OK
