"""What alm apply says a failed agent was left with, on the real directory target: never
"kept" the previous revision when the write landed after all, nor when the target could
not be read back to know."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.cli.deploy_show import failure_message
from reconciler.deploy import audit, engine
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Bundle, Deployment, short_revision
from reconciler.deploy.targets.directory import DirectoryTarget
from tests.registry_support import make_bundle

WHO = Deployment(at="2026-01-01T00:00:00Z", by="Dev One <dev@x>")


def version(n: int) -> Bundle:
    return make_bundle("support", "dev", note=f"v{n}")


def deployed(tmp_path: Path) -> tuple[DirectoryTarget, audit.FileAuditStore, Path]:
    target = DirectoryTarget(tmp_path / "dev", "dev")
    store = audit.FileAuditStore(tmp_path / "audit" / "dev.jsonl")
    live = target.read_all()
    assert engine.apply(planner.plan("dev", {"support": version(1)}, live), target, store, WHO,
                        live=live).ok  # fmt: skip
    return target, store, tmp_path / "dev"


def apply_v2(target: DirectoryTarget, store: audit.FileAuditStore, between: Path) -> str:
    """Plan v2 against what is live, break `between` (a file turned into a folder) as a
    concurrent hand would, then apply: the failure message."""
    live = target.read_all()
    plan = planner.plan("dev", {"support": version(2)}, live)
    between.unlink()
    between.mkdir()
    result = engine.apply(plan, target, store, WHO, live=live)
    assert [o.state for o in result.outcomes] == ["failed"]
    return failure_message(result)


def test_a_write_that_landed_is_not_said_to_have_kept_the_old_revision(tmp_path: Path) -> None:
    target, store, folder = deployed(tmp_path)
    said = apply_v2(target, store, folder / ".history" / "support.jsonl")  # after the rename
    assert f"support (the target holds {short_revision(version(2).revision)})" in said
    assert "kept" not in said  # without the fix: "kept sha256:<the new revision>"


def test_a_target_that_cannot_be_read_back_is_said_to_be_unknown(tmp_path: Path) -> None:
    target, store, folder = deployed(tmp_path)
    said = apply_v2(target, store, folder / "support.json")  # neither written nor readable
    assert "support (unknown: the target could not be read back)" in said
    assert "kept" not in said  # without the fix: "kept sha256:<v1>", which nobody checked
    shutil.rmtree(folder / "support.json")
    assert audit.verify_store(store) is None
