"""Runners by ``runtime.type``: builtin (the spec on a model), command (subprocess), http.

Every runner turns a CaseJob into a Trajectory and never raises for a failing trial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import AlmError
from reconciler.evals.runners.base import AgentProtocolError
from reconciler.evals.runners.builtin import BuiltinRunner
from reconciler.evals.runners.command import CommandRunner
from reconciler.evals.runners.http import HttpRunner
from reconciler.evals.types import Provider, Runner
from reconciler.spec.agent import Agent

__all__ = [
    "RUNNERS",
    "AgentProtocolError",
    "BuiltinRunner",
    "CommandRunner",
    "HttpRunner",
    "RunnerContext",
    "make_runner",
]


@dataclass(frozen=True)
class RunnerContext:
    """What a runner factory may need; each runner takes only its own part."""

    agent: Agent
    provider: Provider | None = None  # builtin: the agent's model provider
    workdir: Path | None = None  # command: the folder the agent runs in (its agents/<name>/)
    env: Mapping[str, str] | None = None  # command: the environment (default: ours)


def _builtin(context: RunnerContext) -> Runner:
    if context.provider is None:
        raise AlmError(f"agent {context.agent.name}: the builtin runner needs a model provider")
    return BuiltinRunner(context.provider)


def _command(context: RunnerContext) -> Runner:
    command = context.agent.runtime.command or []
    return CommandRunner(list(command), workdir=context.workdir, env=context.env)


def _http(context: RunnerContext) -> Runner:
    return HttpRunner(context.agent.runtime.url or "")


RUNNERS: dict[str, Callable[[RunnerContext], Runner]] = {
    "builtin": _builtin,
    "command": _command,
    "http": _http,
}


def make_runner(context: RunnerContext) -> Runner:
    kind = context.agent.runtime.type
    factory = RUNNERS.get(kind)
    if factory is None:
        raise AlmError(f"agent {context.agent.name}: no runner for runtime type {kind!r}")
    return factory(context)
