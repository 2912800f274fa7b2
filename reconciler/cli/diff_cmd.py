"""alm diff: the semantic diff of the desired state between two git refs."""

from __future__ import annotations

import json

import click

from reconciler.cli import actions
from reconciler.cli.app import App, pass_app
from reconciler.cli.output import printable
from reconciler.errors import ExitCode
from reconciler.plan.diff import Side, StateDiff, diff_states
from reconciler.plan.phrasing import Change

DIFF_FORMATS = ("text", "json")
INDENT = "  "


def _warnings(result: StateDiff, base_ref: str, head_ref: str | None) -> list[str]:
    sides: list[tuple[str, Side, str | None]] = [
        ("base", result.base, base_ref),
        ("head", result.head, head_ref),
    ]
    return [
        f"warning: {which} {side.label} has {side.errors} "
        f"{'error' if side.errors == 1 else 'errors'} in its spec; diffing what loaded "
        f"({'alm validate' + (f' --ref {ref}' if ref else '')} lists them)"
        for which, side, ref in sides
        if side.errors
    ]


def _change_lines(changes: tuple[Change, ...]) -> list[str]:
    lines: list[str] = []
    for change in changes:
        lines.append(INDENT + change.text)  # one line: phrasing.Change escapes line breaks
        if change.detail:
            lines.extend((INDENT * 3 + line).rstrip() for line in change.detail.splitlines())
    return lines


def _summary(result: StateDiff) -> str:
    if result.empty:
        return "no changes in the desired state"
    agents = len(result.agents)
    return (
        f"{result.count} {'change' if result.count == 1 else 'changes'}, "
        f"{agents} {'agent' if agents == 1 else 'agents'} affected"
    )


def render_text(result: StateDiff, base_ref: str, head_ref: str | None) -> str:
    """Grouped per agent (one header line each), then catalog, environments, policies, pricing."""
    lines = [f"diff {result.base.label} → {result.head.label}"]
    lines += _warnings(result, base_ref, head_ref)
    for agent in result.agents:
        lines.append(f"agent {agent.name} ({agent.status})")
        lines.extend(_change_lines(agent.changes))
    for name, changes in result.sections.items():
        if changes:
            lines.append(name)
            lines.extend(_change_lines(changes))
    lines.append(_summary(result))
    return "\n".join(lines)


def render_json(result: StateDiff) -> str:
    return json.dumps(result.to_dict(), indent=2)


@click.command("diff")
@click.option("--base", "base_ref", required=True, help="The git ref to diff from.")
@click.option("--head", "head_ref", help="The git ref to diff to (default: the working tree).")
@click.option("--format", "fmt", type=click.Choice(DIFF_FORMATS), default="text", show_default=True)
@pass_app
def diff(app: App, base_ref: str, head_ref: str | None, fmt: str) -> int:
    """Semantic diff of the desired state from a git ref to another ref or, as alm policy
    check does, to the working tree (a report: exits 0)."""
    result = diff_states(app.load(base_ref), app.load(head_ref))
    if fmt == "json":
        actions.machine_output()
        click.echo(render_json(result))
    else:  # prompt lines and values are repository text: shown literally
        click.echo(printable(render_text(result, base_ref, head_ref)))
    return ExitCode.OK
