"""The registry of commands. A new command is one import and one list entry."""

from __future__ import annotations

import click

from reconciler.cli import (
    deploy_cmds,
    diff_cmd,
    eval_cmd,
    eval_compare,
    github_cmd,
    plan_cmd,
    policy_cmds,
    registry_cmd,
    spec_cmds,
)

COMMANDS: list[click.Command] = [
    spec_cmds.validate,
    spec_cmds.schema,
    diff_cmd.diff,
    policy_cmds.policy,
    policy_cmds.codeowners,
    eval_cmd.eval_group,
    plan_cmd.plan,
    github_cmd.github_group,
    deploy_cmds.apply,
    deploy_cmds.status,
    deploy_cmds.rollback,
    deploy_cmds.unpin,
    deploy_cmds.drift,
    deploy_cmds.audit_group,
    registry_cmd.registry_group,
]

_ = eval_compare  # registers `alm eval compare` on eval_group
