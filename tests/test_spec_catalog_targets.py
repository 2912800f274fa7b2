"""Targets and environment settings in environments.yaml: git and http settings, a
setting of another target type is an error (never ignored), drift and rollback options,
what alm ops does on a breach and its sample sizes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.spec.catalog import DEFAULT_BRANCH, Environment, Target
from reconciler.spec.loader import load_worktree
from tests.gitrepo import PROJECT


def test_git_defaults_to_this_repository_and_alm_deployments() -> None:
    target = Target.model_validate({"type": "git"})
    assert (target.repository, target.branch) == (None, DEFAULT_BRANCH) == (None, "alm/deployments")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"type": "git", "path": "x"}, "path is not a setting of a git target"),
        ({"type": "directory", "path": "x", "token_env": "T"}, "token_env is not a setting"),
        ({"type": "http", "url": "http://h", "branch": "b"}, "branch is not a setting"),
        ({"type": "http"}, "http target expects url"),
        ({"type": "directory"}, "directory target expects path"),
        ({"type": "http", "url": "file:///etc"}, "url expected to start with http"),
        ({"type": "http", "url": "http://h", "token_env": "A B"}, "token_env"),
        ({"type": "git", "branch": "a..b"}, "branch expected a git branch name"),
        ({"type": "git", "branch": "-f"}, "branch"),
        ({"type": "git", "branch": "x.lock"}, "branch expected a git branch name"),
    ],
)
def test_a_wrong_target_setting_is_an_error(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Target.model_validate(given)


def test_environment_drift_and_rollback_settings() -> None:
    env = Environment.model_validate({"name": "dev", "target": {"path": "d"}})
    assert (env.rollback_on_failure, env.drift.mode, env.drift.ignore) == (False, "fail", [])
    env = Environment.model_validate(
        {
            "name": "dev",
            "target": {"path": "d"},
            "rollback_on_failure": True,
            "drift": {"mode": "warn", "ignore": ["content.model.params.temperature"]},
        }
    )
    assert env.rollback_on_failure and env.drift.mode == "warn"
    for bad in ({"mode": "loud"}, {"ignore": ["model.params"]}, {"ignores": []}):
        with pytest.raises(ValidationError):
            Environment.model_validate({"name": "dev", "target": {"path": "d"}, "drift": bad})


def test_environment_operate_settings_and_on_breach() -> None:
    env = Environment.model_validate({"name": "dev", "target": {"path": "d"}})
    assert env.on_breach == "issue"
    assert (env.operate.min_samples, env.operate.window_hours) == (30, 24)
    assert env.operate.canary_min_samples == 50
    env = Environment.model_validate(
        {
            "name": "prod",
            "target": {"path": "d"},
            "on_breach": "rollback",
            "operate": {"min_samples": 5, "window_hours": 1.5, "canary_min_samples": 9},
        }
    )
    assert env.on_breach == "rollback"
    assert (env.operate.min_samples, env.operate.window_hours) == (5, 1.5)
    assert env.operate.canary_min_samples == 9


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"on_breach": "page"}, "on_breach"),
        ({"operate": {"min_samples": 0}}, "min_samples"),
        ({"operate": {"window_hours": 0}}, "window_hours"),
        ({"operate": {"window_hours": float("inf")}}, "window_hours"),
        ({"operate": {"canary_min_samples": 0}}, "canary_min_samples"),
        ({"operate": {"min_sample": 3}}, "min_sample"),  # a typo is an error, never ignored
    ],
)
def test_a_wrong_operate_setting_is_an_error(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Environment.model_validate({"name": "dev", "target": {"path": "d"}, **given})


def test_the_repository_rolls_prod_back_on_a_breach() -> None:
    state = load_worktree(PROJECT)
    by_name = {e.name: e for e in state.environments[0].model.environments}
    assert by_name["prod"].on_breach == "rollback" and by_name["staging"].on_breach == "issue"
