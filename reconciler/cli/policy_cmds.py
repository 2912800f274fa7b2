"""alm policy check, alm codeowners."""

from __future__ import annotations

import json

import click

from reconciler.cli import actions
from reconciler.cli.app import App, pass_app
from reconciler.cli.output import annotation, finding_line, printable
from reconciler.cli.policy_inputs import change_input, head_input
from reconciler.errors import AlmError, ExitCode
from reconciler.fsutil import write_atomic
from reconciler.policy import codeowners as owners
from reconciler.policy import report as render
from reconciler.policy.check import check
from reconciler.spec.checks import validate
from reconciler.wording import plural

FORMATS = ("text", "json", "github")


@click.group()
def policy() -> None:
    """Policies as code: violations, and the approvals a change needs."""


@policy.command("check")
@click.option("--base", help="Check the change from this git ref: approvals, new violations.")
@click.option("--head", help="Check this git ref instead of the working tree.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@pass_app
def check_cmd(app: App, base: str | None, head: str | None, fmt: str) -> int:
    """Evaluate the policies; print violations and the required approvals.

    Policies (policies/*.yaml, kind: Policy) are CEL expressions over: object, the
    agent (tools enriched from the catalog with access, risk, data_classes and
    wildcard; derived facts under object.derived); oldObject, the agent at --base
    (null for a new agent; the object itself without --base); catalog, tool name to
    tool; environment, each one the agent deploys to when the policy matches
    environments (else null); changes, the changed paths.

    With --base, the required approvals are the base CODEOWNERS of each changed
    file plus every approval a policy demands. Exit 1 on any error-severity
    violation. --format json is versioned (schema_version: 1); --format github prints
    each violation as a workflow annotation, then the text report.
    """
    base_label = None
    if base is not None:
        base_state = app.load(base)
        base_label = base_state.label
        inp = change_input(app, base, head, base_state)
    else:
        inp = head_input(app, head)
    head_state = inp.head
    report = check(inp)
    if fmt == "json":
        actions.machine_output()
        click.echo(json.dumps(render.to_dict(report, head_state.label, base_label), indent=2))
    else:
        for violation in report.violations if fmt == "github" else []:
            click.echo(annotation(violation.finding))
        click.echo(printable(render.to_text(report, head_state.label, base_label)))
    return ExitCode.OK if report.ok else ExitCode.INVALID


@click.command("codeowners")
@click.option("--write", is_flag=True, help=f"Write {owners.PATH}.")
@click.option("--check", "check_only", is_flag=True, help="Fail when it is out of date.")
@pass_app
def codeowners(app: App, write: bool, check_only: bool) -> int:
    """Generate .github/CODEOWNERS from the agents' and the policies' owners.

    Refuses while `alm validate` finds errors (nothing is written). --check parses the
    committed file and compares its rules, naming each line that differs.
    """
    if write and check_only:
        raise click.UsageError("--write and --check exclude each other")
    state = app.load()
    errors = [f for f in validate(state) if f.severity == "error"]
    if errors:
        for finding in errors:
            click.echo(finding_line(finding), err=True)
        raise AlmError(
            f"the desired state has {plural(len(errors), 'error')}; expected a valid state "
            "to take owners from (run alm validate)"
        )
    text = owners.generate(state)
    path = app.root / owners.PATH
    current = path.read_text("utf-8", "replace") if path.is_file() else None
    if check_only:
        return _check_codeowners(current, text)
    if write:
        if current != text:
            write_atomic(path, text)
        click.echo(f"wrote {owners.PATH}" if current != text else f"{owners.PATH} is current")
    else:
        actions.machine_output()
        click.echo(text, nl=False)
    return ExitCode.OK


def _check_codeowners(current: str | None, text: str) -> int:
    if current is None:
        differences = [f"{owners.PATH} does not exist"]
    else:
        differences = owners.compare(current, text)
    for line in differences:
        click.echo(printable(line), err=True)
    if differences:
        click.echo(
            f"{owners.PATH} is out of date; run `alm codeowners --write` and commit", err=True
        )
        return ExitCode.INVALID
    same = " (its comments or spacing differ)" if current != text else ""
    click.echo(f"{owners.PATH} is current{same}")
    return ExitCode.OK
