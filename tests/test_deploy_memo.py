"""The remembered no-op plan: recalled only when every fingerprint is equal; after an apply
whose every write succeeded, the plan the next apply would make."""

from __future__ import annotations

from pathlib import Path

from reconciler.deploy import memo, plan
from reconciler.deploy.model import Action, DeployPlan, Live
from reconciler.deploy.targets import Write
from reconciler.deploy.targets.directory import DirectoryTarget
from tests.registry_support import make_bundle

NOTHING = DeployPlan("dev", (Action("unchanged", "a", "sha256:1", "sha256:1"),))
CHANGE = DeployPlan("dev", (Action("update", "a", "sha256:1", "sha256:2"),))


def test_recalled_only_with_every_fingerprint_equal(tmp_path: Path) -> None:
    path = memo.memo_path(tmp_path, "dev")
    key = memo.key({"files": "f"}, {"environment": "dev"}, prune=False)
    memo.remember(path, key, NOTHING, {"a": "v1"}, None)
    assert memo.recall(path, "dev", key, {"a": "v1"}, None) == NOTHING
    assert memo.recall(path, "dev", key, {"a": "v2"}, None) is None  # a bundle changed
    assert memo.recall(path, "dev", key, {"a": "v1", "b": "v"}, None) is None  # one added
    assert memo.recall(path, "dev", key, {"a": "v1"}, {"a": "p"}) is None  # previous env
    for other in (
        memo.key({"files": "g"}, {"environment": "dev"}, prune=False),
        memo.key({"files": "f"}, {"environment": "dev", "x": 1}, prune=False),
        memo.key({"files": "f"}, {"environment": "dev"}, prune=True),
    ):
        assert memo.recall(path, "dev", other, {"a": "v1"}, None) is None


def test_a_plan_with_changes_is_never_remembered(tmp_path: Path) -> None:
    path = memo.memo_path(tmp_path, "dev")
    memo.remember(path, "k", NOTHING, {}, None)
    memo.remember(path, "k", CHANGE, {}, None)
    assert not path.exists()


def test_a_damaged_or_foreign_memo_is_a_miss(tmp_path: Path) -> None:
    path = memo.memo_path(tmp_path, "dev")
    path.parent.mkdir(parents=True)
    for text in (
        "{",
        "[]",
        '{"key": "k", "versions": {}, "previous": null}',
        '{"key": "k", "versions": {}, "previous": null, "warnings": [],'
        ' "actions": [{"kind": "update", "agent": "a", "before": null,'
        ' "after": "x", "reason": ""}]}',
    ):
        path.write_text(text)
        assert memo.recall(path, "dev", "k", {}, None) is None, text


def _changes(plan: DeployPlan, live: dict[str, Live]) -> list[Write]:
    return [Write(a.agent, a.bundle, live.get(a.agent)) for a in plan.changes]


def test_after_every_write_the_memo_is_the_plan_the_next_apply_makes(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path / "dev", "dev")
    target.put(make_bundle("a", "dev", n=1), None)
    target.put(make_bundle("gone", "dev"), None)
    target.put(make_bundle("same", "dev"), None)
    desired = {name: make_bundle(name, "dev", n=2) for name in ("a", "b")}
    desired["same"] = make_bundle("same", "dev")
    versions, live = target.versions(), target.read_all()
    done = plan.plan("dev", desired, live, prune=True)
    assert [a.kind for a in done.actions] == ["update", "create", "delete", "unchanged"]
    written = memo.Recording(target)
    assert written.write_many(_changes(done, live)).ok
    settled = memo.after_apply(done, desired, versions, written, previous=None)
    assert settled is not None
    remembered, after = settled
    assert after == target.versions()  # the versions the next apply reads
    assert remembered == plan.plan("dev", desired, target.read_all(), prune=True)
    path = memo.memo_path(tmp_path, "dev")
    memo.remember(path, "k", remembered, after, None)
    assert memo.recall(path, "dev", "k", target.versions(), None) == remembered
    target.store.file("a").write_text(target.store.file("a").read_text().replace("2", "3"))
    assert memo.recall(path, "dev", "k", target.versions(), None) is None  # edited since


def test_a_failed_or_missing_write_leaves_nothing_to_remember(tmp_path: Path) -> None:
    target = DirectoryTarget(tmp_path / "dev", "dev")
    target.put(make_bundle("a", "dev", n=1), None)
    desired = {name: make_bundle(name, "dev", n=2) for name in ("a", "b")}
    versions, live = target.versions(), target.read_all()
    done = plan.plan("dev", desired, live)
    stale = memo.Recording(target)  # a's write names no live entry: a Conflict
    result = stale.write_many([Write("a", desired["a"], None), Write("b", desired["b"], None)])
    assert set(result.failed) == {"a"} and "b" in result.done
    assert memo.after_apply(done, desired, versions, stale, previous=None) is None
    partial = memo.Recording(DirectoryTarget(tmp_path / "other", "dev"))
    assert partial.write_many([Write("b", desired["b"], None)]).ok  # a's update not written
    assert memo.after_apply(done, desired, versions, partial, previous=None) is None
