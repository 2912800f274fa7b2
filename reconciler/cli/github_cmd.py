"""alm github pr, alm github deployed: the bot's GitHub side, driven by the environment
GitHub Actions sets (GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY,
GITHUB_TOKEN, GITHUB_API_URL, GITHUB_SERVER_URL, GITHUB_RUN_ID). The work is in
reconciler.cli.github_run, imported when a command runs."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.app import App, pass_app


@click.group("github")
def github_group() -> None:
    """The pull request bot: the sticky comment, the gate status, the deploy comment."""


@github_group.command("pr")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The plan.json `alm plan --json` wrote (required: this command does not plan).",
)
def pr_cmd(report: Path | None) -> None:
    """Post the plan: one sticky comment, the status alm/gate and the check run alm.

    Under pull_request, pull_request_review(_comment), workflow_run (the PR is the one
    the report records, checked against the API) and merge_group (status only). Exit 0
    once posted, whatever the verdict (the status is the gate); 1 when the report is
    refused or the comment cannot be posted; 2 for a missing variable or option.
    """
    from reconciler.cli import github_run

    github_run.post_plan(report)


@github_group.command("deployed")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A plan.json whose `deploy` section says what deploys (default: from the repository).",
)
@click.option(
    "--audit-dir",
    "audit_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder of audit logs (<env>.jsonl) to read what was applied from; repeatable "
    "(default: each environment's audit store, audit.store in environments.yaml).",
)
@pass_app
def deployed_cmd(app: App, report: Path | None, audit_dirs: tuple[Path, ...]) -> None:
    """On a push to main: comment on the merged pull request what went where.

    What `alm apply` recorded for the pushed commit in the audit logs: per environment
    each agent's from and to revision, its result and its audit record; environments not
    applied yet are listed as pending. Before any apply: what would deploy where. A pull
    request closed without merging, or no pull request for the pushed commit: says so,
    posts nothing, exit 0.
    """
    from reconciler.cli import github_run

    github_run.comment_deployed(app, report, audit_dirs)
