"""The registry of commands: name -> "module:attribute", imported only when the command
runs (or `alm --help` lists them all), so `alm apply` never loads the eval engine, the
policy compiler or the plan renderer. A new command is one entry."""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, str] = {
    "validate": "reconciler.cli.spec_cmds:validate",
    "schema": "reconciler.cli.spec_cmds:schema",
    "diff": "reconciler.cli.diff_cmd:diff",
    "policy": "reconciler.cli.policy_cmds:policy",
    "codeowners": "reconciler.cli.policy_cmds:codeowners",
    "eval": "reconciler.cli.eval_compare:eval_group",  # eval_compare adds `alm eval compare`
    "plan": "reconciler.cli.plan_cmd:plan",
    "github": "reconciler.cli.github_cmd:github_group",
    "apply": "reconciler.cli.deploy_cmds:apply",
    "status": "reconciler.cli.deploy_cmds:status",
    "rollback": "reconciler.cli.deploy_cmds:rollback",
    "unpin": "reconciler.cli.deploy_cmds:unpin",
    "drift": "reconciler.cli.deploy_cmds:drift",
    "audit": "reconciler.cli.deploy_cmds:audit_group",
    "registry": "reconciler.cli.registry_cmd:registry_group",
    "ops": "reconciler.cli.ops_cmds:ops_group",
}


def load(name: str, registry: dict[str, str] = COMMANDS) -> click.Command:
    module, _, attribute = registry[name].partition(":")
    command: click.Command = getattr(importlib.import_module(module), attribute)
    return command


class LazyGroup(click.Group):
    """A group whose commands (`registry`, COMMANDS for alm itself) are imported on first
    use."""

    registry: dict[str, str] = COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.registry})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in self.registry:
            found = load(cmd_name, self.registry)
            self.add_command(found, cmd_name)
        return found
