"""The remembered no-op plan: recalled only when every fingerprint is equal."""

from __future__ import annotations

from pathlib import Path

from reconciler.deploy import memo
from reconciler.deploy.model import Action, DeployPlan

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
