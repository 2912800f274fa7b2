"""`alm ops`: the Operate stage. Each subcommand lives in its own module, imported when it
runs (`alm ops check` never loads matplotlib, `alm ops ingest` never loads the specs'
metrics); a new subcommand is one entry."""

from __future__ import annotations

import click

from reconciler.cli.commands import LazyGroup

OPS_COMMANDS: dict[str, str] = {
    "ingest": "reconciler.cli.ops_ingest:ingest",
    "check": "reconciler.cli.ops_check:check",
    "promote-canary": "reconciler.cli.ops_canary:promote_canary",
    "report": "reconciler.cli.ops_report:report",
    "promote": "reconciler.cli.ops_promote:promote",
    "simulate": "reconciler.cli.ops_simulate:simulate",
}


class OpsGroup(LazyGroup):
    registry = OPS_COMMANDS


@click.group("ops", cls=OpsGroup)
def ops_group() -> None:
    """Production: ingest traces, check them against each agent's contract, report unit
    economics, and turn failures into eval cases."""
