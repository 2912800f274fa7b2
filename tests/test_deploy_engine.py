"""The apply engine and rollback against the real directory target (files in tmp dirs) and
the real file audit log: idempotence, failure isolation, conflicts re-planned once,
rollback_on_failure, interrupted applies settled, rollback and unpin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.deploy import audit, engine, journal, rollback
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Bundle, Deployment, Live, Unreadable, revision_of
from reconciler.deploy.targets.directory import DirectoryTarget
from reconciler.errors import AlmError

WHO = Deployment(at="2026-01-01T00:00:00Z", by="Dev One <dev@x>", commit="a" * 40)


def bundle(agent: str, temperature: float = 0, env: str = "dev") -> Bundle:
    content: dict[str, Any] = {"model": {"name": "m", "params": {"temperature": temperature}}}
    return Bundle(agent=agent, environment=env, revision=revision_of(content), content=content)


@pytest.fixture
def target(tmp_path: Path) -> DirectoryTarget:
    return DirectoryTarget(tmp_path / "deployments" / "dev", "dev")


@pytest.fixture
def store(tmp_path: Path) -> audit.FileAuditStore:
    return audit.FileAuditStore(tmp_path / "audit" / "dev.jsonl")


def run(
    target: DirectoryTarget,
    store: audit.FileAuditStore,
    desired: dict[str, Bundle],
    *,
    prune: bool = False,
    rollback_on_failure: bool = False,
) -> engine.ApplyResult:
    live = target.read_all()
    plan = planner.plan("dev", desired, live, prune=prune)
    replan = engine.replanner("dev", desired, prune=prune)
    return engine.apply(
        plan,
        target,
        store,
        WHO,
        live=live,
        replan=replan,
        rollback_on_failure=rollback_on_failure,
    )


def states(result: engine.ApplyResult) -> dict[str, str]:
    return {o.agent: o.state for o in result.outcomes}


def records(store: audit.FileAuditStore) -> list[tuple[str, str, str]]:
    return [(r["action"], r["agent"], r["result"]) for r in audit.entries(store.read())]


def test_apply_creates_then_does_nothing_the_second_time(target, store) -> None:
    desired = {"a": bundle("a"), "b": bundle("b")}
    first = run(target, store, desired)
    assert states(first) == {"a": "created", "b": "created"}
    live = target.read_all()
    assert {k: v.bundle.revision for k, v in live.items()} == {
        k: v.revision for k, v in desired.items()
    }
    assert live["a"].bundle.deployment == WHO  # who deployed travels with the bundle
    lines = len(store.read().splitlines())
    second = run(target, store, desired)
    assert states(second) == {"a": "unchanged", "b": "unchanged"}
    assert len(store.read().splitlines()) == lines  # nothing applied, nothing recorded
    assert audit.verify_store(store) is None


def test_every_change_is_audited_started_then_its_result(target, store) -> None:
    run(target, store, {"a": bundle("a")})
    run(target, store, {"a": bundle("a", 0.5)})
    assert records(store) == [
        ("create", "a", "started"),
        ("create", "a", "ok"),
        ("update", "a", "started"),
        ("update", "a", "ok"),
    ]
    last = audit.entries(store.read())[-1]
    assert last["from"] == bundle("a").revision and last["to"] == bundle("a", 0.5).revision
    assert last["actor"] == WHO.by and last["commit"] == WHO.commit


def test_one_agent_failing_leaves_the_others_applied(target, store) -> None:
    run(target, store, {"a": bundle("a"), "b": bundle("b")})
    # b's new bundle is for another environment: the dev target refuses to write it
    desired = {"a": bundle("a", 0.5), "b": bundle("b", 0.5, env="prod"), "c": bundle("c")}
    result = run(target, store, desired)
    assert states(result) == {"a": "updated", "b": "failed", "c": "created"}
    failed = result.failed[0]
    assert failed.live == bundle("b").revision and "keeps" in failed.detail
    assert target.read("b").bundle.revision == bundle("b").revision  # type: ignore[union-attr]
    assert target.read("a").bundle.revision == bundle("a", 0.5).revision  # type: ignore[union-attr]
    assert ("update", "b", "failed") in records(store)


def test_rollback_on_failure_restores_and_pins(target, store) -> None:
    run(target, store, {"b": bundle("b")})
    result = run(target, store, {"b": bundle("b", 0.5, env="prod")}, rollback_on_failure=True)
    (outcome,) = result.outcomes
    assert outcome.state == "failed" and outcome.rolled_back
    live = target.read("b")
    assert live is not None and live.bundle.revision == bundle("b").revision
    assert live.bundle.pin is not None and live.bundle.pin.revision == bundle("b").revision
    assert "automatic rollback" in live.bundle.pin.reason
    assert ("rollback", "b", "ok") in records(store)
    # the next apply leaves the pinned agent alone
    again = run(target, store, {"b": bundle("b", 0.7)})
    assert states(again) == {"b": "pinned"}


class RacingTarget(DirectoryTarget):
    """The real directory target, with another writer changing `agent` right after each of
    alm's reads of it (`races` times): the conditional writes must see it."""

    def __init__(self, path: Path, agent: str, races: int) -> None:
        super().__init__(path, "dev")
        self.other = DirectoryTarget(path, "dev")
        self.agent, self.races = agent, races

    def entry(self, agent: str) -> Live | Unreadable | None:  # how the engine reads
        found = super().entry(agent)
        if agent == self.agent and self.races > 0:
            self.races -= 1
            temp = 0.9 + self.races / 100
            self.other.put(bundle(agent, temp), self.other.read(agent))
        return found


def test_a_conflict_is_re_read_and_re_planned_once(tmp_path: Path, store) -> None:
    path = tmp_path / "deployments" / "dev"
    target = RacingTarget(path, "a", races=0)
    run(target, store, {"a": bundle("a")})
    live = target.read_all()
    DirectoryTarget(path, "dev").put(bundle("a", 0.3), live["a"])  # someone else, after the plan
    desired = {"a": bundle("a", 0.5)}
    plan = planner.plan("dev", desired, live)
    result = engine.apply(
        plan, target, store, WHO, live=live, replan=engine.replanner("dev", desired)
    )
    (outcome,) = result.outcomes
    assert outcome.state == "updated" and "re-planned after a conflict" in outcome.detail
    assert outcome.action.before == bundle("a", 0.3).revision  # planned again from the fresh read
    assert target.read("a").bundle.revision == bundle("a", 0.5).revision  # type: ignore[union-attr]
    assert ("update", "a", "conflict") in records(store)


def test_a_second_conflict_fails_that_agent_without_overwriting(tmp_path: Path, store) -> None:
    path = tmp_path / "deployments" / "dev"
    target = RacingTarget(path, "a", races=0)
    run(target, store, {"a": bundle("a"), "b": bundle("b")})
    live = target.read_all()
    DirectoryTarget(path, "dev").put(bundle("a", 0.3), live["a"])
    target.races = 1  # and again right after alm re-reads it
    desired = {"a": bundle("a", 0.5), "b": bundle("b", 0.5)}
    plan = planner.plan("dev", desired, live)
    result = engine.apply(
        plan, target, store, WHO, live=live, replan=engine.replanner("dev", desired)
    )
    assert states(result) == {"a": "failed", "b": "updated"}
    assert "again" in result.failed[0].detail
    # the other writer's bundle stands: nothing overwritten blindly
    assert target.read("a").bundle.revision == bundle("a", 0.9).revision  # type: ignore[union-attr]


def test_prune_deletes_only_when_asked(target, store) -> None:
    run(target, store, {"a": bundle("a"), "b": bundle("b")})
    kept = run(target, store, {"a": bundle("a")})
    assert states(kept)["b"] == "unchanged" and target.read("b") is not None
    pruned = run(target, store, {"a": bundle("a")}, prune=True)
    assert states(pruned)["b"] == "deleted" and target.read("b") is None


def test_an_interrupted_apply_is_settled_from_the_target(target, store) -> None:
    rec = journal.Recorder(store, "dev", WHO)
    target.put(journal.stamped(bundle("a"), WHO), None)  # the write landed, its result not recorded
    rec.write("create", "a", None, bundle("a").revision, "started")
    rec.write("create", "b", None, bundle("b").revision, "started")  # never written
    result = run(target, store, {"a": bundle("a"), "b": bundle("b")})
    assert sorted(result.settled) == [
        f"a: create to {bundle('a').revision} was done",
        f"b: create to {bundle('b').revision} was not done (live: absent)",
    ]
    assert states(result) == {"a": "unchanged", "b": "created"}
    assert journal.dangling(audit.entries(store.read()), "dev") == []
    assert audit.verify_store(store) is None


def test_rollback_restores_the_previous_revision_and_pins(target, store) -> None:
    run(target, store, {"a": bundle("a")})
    run(target, store, {"a": bundle("a", 0.5)})
    done = rollback.rollback(
        target, store, "a", WHO, to=None, find_bundle=lambda r: None, environment="dev"
    )
    assert (done.before, done.revision) == (bundle("a", 0.5).revision, bundle("a").revision)
    assert done.source == "the target's history"
    live = target.read("a")
    assert live is not None and live.bundle.pin is not None and live.bundle.intact
    assert states(run(target, store, {"a": bundle("a", 0.5)})) == {"a": "pinned"}
    assert rollback.unpin(target, store, "a", WHO, environment="dev") is not None
    assert states(run(target, store, {"a": bundle("a", 0.5)})) == {"a": "updated"}
    assert rollback.unpin(target, store, "a", WHO, environment="dev") is None


def test_rollback_to_a_prefix_and_from_the_finder(target, store) -> None:
    run(target, store, {"a": bundle("a")})
    run(target, store, {"a": bundle("a", 0.5)})
    old = bundle("a").revision
    wanted: list[str] = []

    def finder(revision: str) -> Bundle | None:
        wanted.append(revision)
        return bundle("a", 0.1) if revision == bundle("a", 0.1).revision else None

    done = rollback.rollback(
        target, store, "a", WHO, to=old[7:19], find_bundle=finder, environment="dev"
    )
    assert done.revision == old and wanted == []  # from history, the finder not asked
    newer = bundle("a", 0.1).revision  # never deployed here: only the finder has it
    done = rollback.rollback(
        target, store, "a", WHO, to=newer, find_bundle=finder, environment="dev"
    )
    assert done.source == "the repository's history" and wanted == [newer]
    with pytest.raises(AlmError, match="names no revision"):
        rollback.rollback(target, store, "a", WHO, to="abc", find_bundle=finder, environment="dev")
    with pytest.raises(AlmError, match="neither in the target's history"):
        rollback.rollback(
            target, store, "a", WHO, to="f" * 64, find_bundle=finder, environment="dev"
        )


def test_rollback_without_history_says_so(target, store) -> None:
    run(target, store, {"a": bundle("a")})
    with pytest.raises(AlmError, match="no revision before"):
        rollback.rollback(
            target, store, "a", WHO, to=None, find_bundle=lambda r: None, environment="dev"
        )
    with pytest.raises(AlmError, match="not deployed"):
        rollback.rollback(
            target, store, "zz", WHO, to=None, find_bundle=lambda r: None, environment="dev"
        )


def test_settling_reads_only_the_trailing_started_records(target, store) -> None:
    rec = journal.Recorder(store, "dev", WHO)
    rec.write("create", "old", None, "sha256:1", "started")
    rec.write("create", "old", None, "sha256:1", "ok")
    rec.write("create", "a", None, bundle("a").revision, "started")
    assert [e["agent"] for e in journal.trailing(store.read())] == ["a"]
    assert journal.trailing(store.read() + b'{"torn') == journal.trailing(store.read())


def test_rollback_and_unpin_settle_an_interrupted_apply_first(target, store) -> None:
    run(target, store, {"a": bundle("a")})
    run(target, store, {"a": bundle("a", 0.5)})
    journal.Recorder(store, "dev", WHO).write("create", "b", None, bundle("b").revision, "started")
    rollback.rollback(
        target, store, "a", WHO, to=None, find_bundle=lambda r: None, environment="dev"
    )
    entries = audit.entries(store.read())
    assert (entries[-3]["agent"], entries[-3]["result"]) == ("b", "interrupted")
    assert journal.dangling(entries, "dev") == []


def test_a_rollback_records_the_commit_the_restored_revision_came_from(target, store) -> None:
    run(target, store, {"a": bundle("a")})
    later = WHO.model_copy(update={"commit": "b" * 40})
    live = target.read_all()
    plan = planner.plan("dev", {"a": bundle("a", 0.5)}, live)
    engine.apply(plan, target, store, later, live=live)
    rollback.rollback(
        target,
        store,
        "a",
        WHO.model_copy(update={"commit": None, "by": "Ops"}),
        to=None,
        find_bundle=lambda r: None,
        environment="dev",
    )
    deployed = target.read("a").bundle.deployment  # type: ignore[union-attr]
    assert deployed is not None and (deployed.commit, deployed.by) == ("a" * 40, "Ops")
    assert audit.entries(store.read())[-1]["commit"] == "a" * 40
