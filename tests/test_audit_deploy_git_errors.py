"""The git target's errors say git's cause, not the advice git prints after it: a real
git fetch from a remote that does not exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.deploy.targets import Write, open_target
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment
from tests.registry_support import make_bundle


def test_a_missing_remote_is_named_with_gits_cause(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.git"
    env = Environment.model_validate(
        {"name": "dev", "target": {"type": "git", "repository": str(missing)}}
    )
    target = open_target(env, tmp_path, {"HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"})
    with pytest.raises(AlmError) as caught:
        target.read_all()
    said = str(caught.value)
    # without the fix: "git fetch ...: and the repository exists." (git's last line)
    assert "does not appear to be a git repository" in said
    assert "and the repository exists" not in said


def test_a_push_the_remote_refuses_says_the_remotes_reason(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text('#!/bin/sh\necho "Permission to acme/alm.git denied to newbie." >&2\nexit 1\n')
    hook.chmod(0o755)
    env = Environment.model_validate(
        {"name": "dev", "target": {"type": "git", "repository": str(remote)}}
    )
    target = open_target(env, tmp_path, {"HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"})
    with pytest.raises(AlmError) as caught:
        target.write_many([Write("support", make_bundle("support", "dev"), None)])
    said = str(caught.value)
    # without the fix: "git push ...: error: failed to push some refs to ..." alone
    assert "failed to push" in said and "remote: Permission to acme/alm.git denied" in said
