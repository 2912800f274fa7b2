"""Defects a hostile new user found in the deploy commands, each on real files: a
directory target whose path is a file, and a batch write that fails as a whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.deploy import audit, engine, journal
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Deployment
from reconciler.deploy.targets.directory import DirectoryTarget
from tests.cli import run
from tests.gitrepo import deploy_repo
from tests.registry_support import make_bundle

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: NOTES.md}
    gates: {previous_environment: false, evals_pass: false}
"""
WHO = Deployment(at="2026-01-01T00:00:00Z", by="Dev One <dev@x>")


def test_a_directory_target_whose_path_is_a_file_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = deploy_repo(tmp_path / "repo", ENVIRONMENTS, "dev's target is a file by mistake")
    (repo.path / "NOTES.md").write_text("notes\n")
    for command in (["apply"], ["status"], ["drift"]):
        code, _, err = run(capsys, "-C", str(repo.path), *command, "--env", "dev")
        # without the fix: apply exit 4 (FileExistsError), status "4 Missing", drift exit 3
        assert code == 1, (command, err)
        assert "target.path 'NOTES.md' is not a folder" in err and "environment dev" in err
    assert (repo.path / "NOTES.md").read_text() == "notes\n"
    assert not (repo.path / ".alm" / "audit").exists()  # refused before anything recorded


def test_a_batch_that_fails_as_a_whole_fails_each_agent_and_is_audited(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    target = DirectoryTarget(folder, "dev")
    store = audit.FileAuditStore(tmp_path / "audit" / "dev.jsonl")
    desired = {"a": make_bundle("a", "dev"), "b": make_bundle("b", "dev")}
    plan = planner.plan("dev", desired, {})
    folder.write_text("someone put a file here after the plan\n")  # write_many cannot start
    result = engine.apply(plan, target, store, WHO, live={})  # without the fix: raises
    assert [(o.agent, o.state) for o in result.outcomes] == [("a", "failed"), ("b", "failed")]
    assert all("File exists" in o.detail for o in result.failed)
    records = audit.entries(store.read())
    assert [(r["agent"], r["result"]) for r in records] == [
        ("a", "started"),
        ("b", "started"),
        ("a", "failed"),
        ("b", "failed"),
    ]
    assert journal.dangling(records, "dev") == []  # nothing left for the next apply to settle
