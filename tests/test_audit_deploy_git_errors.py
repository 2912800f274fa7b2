"""The git target's errors say git's cause, not the advice git prints after it: a real
git fetch from a remote that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.deploy.targets import open_target
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment


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
