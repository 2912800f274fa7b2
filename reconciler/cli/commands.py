"""The registry of commands: name -> "module:attribute", imported only when the command
runs (or `alm --help` lists them all), so `alm apply` never loads the eval engine, the
policy compiler or the plan renderer. A new command is one entry."""

from __future__ import annotations

import difflib
import importlib

import click

from reconciler.cli.epilogs import EPILOGS

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


def close_names(name: str, names: list[str]) -> list[str]:
    """The names a mistyped one was probably meant to be, nearest first."""
    return difflib.get_close_matches(name, names, n=3, cutoff=0.6)


def with_help(command: click.Command, path: str) -> click.Command:
    """`command` (and, for a group, its subcommands) with its examples and exit codes
    (EPILOGS) under its --help, and a plain group made to suggest near names as alm's
    own groups do. Idempotent; a command's own epilog wins."""
    if command.epilog is None and path in EPILOGS:
        command.epilog = EPILOGS[path]
    if isinstance(command, click.Group):
        if type(command) is click.Group:  # same state, one more method: no wrapper needed
            command.__class__ = SuggestingGroup
        for sub_name, sub in command.commands.items():
            with_help(sub, f"{path} {sub_name}")
    return command


class SuggestingGroup(click.Group):
    """A group that answers an unknown command with the near names ("did you mean"), as
    click already does for options."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            near = close_names(name, self.list_commands(ctx))
            if near:
                ctx.fail(f"No such command {name!r}. {_did_you_mean(near)}")
        return super().resolve_command(ctx, args)


def _did_you_mean(near: list[str]) -> str:
    """click's own wording for a mistyped option, used for a mistyped command."""
    quoted = ", ".join(repr(n) for n in near)
    return f"Did you mean {quoted}?" if len(near) == 1 else f"(Did you mean one of: {quoted}?)"


class LazyGroup(SuggestingGroup):
    """A group whose commands (`registry`, COMMANDS for alm itself) are imported on first
    use."""

    registry: dict[str, str] = COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.registry})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in self.registry:
            found = with_help(load(cmd_name, self.registry), _path(ctx, cmd_name))
            self.add_command(found, cmd_name)
        return found


def _path(ctx: click.Context, cmd_name: str) -> str:
    """`ops check` for the command `check` of the group `ops`, as EPILOGS names it."""
    names = [c.info_name for c in _lineage(ctx) if c.parent is not None and c.info_name]
    return " ".join([*names, cmd_name])


def _lineage(ctx: click.Context) -> list[click.Context]:
    chain: list[click.Context] = []
    node: click.Context | None = ctx
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain[::-1]
