"""A rollback run twice (a retried job, an hourly breach check) never puts back the revision
the first one replaced: on each real target (directory, git with a bare remote, the
reference registry run for real), and from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.deploy import audit, engine, rollback
from reconciler.deploy import plan as planner
from reconciler.deploy.model import Bundle, Deployment
from reconciler.deploy.targets import BatchTarget
from reconciler.errors import AlmError
from tests.cli import run as run_cli
from tests.gitrepo import DEV_ON_A_DIRECTORY, GitRepo, deploy_repo
from tests.registry_support import make_bundle
from tests.test_deploy_targets import ENV, Opener, opener  # noqa: F401 (the fixture)

WHO = Deployment(at="2026-01-01T00:00:00Z", by="Dev One <dev@x>", commit="a" * 40)


def version(n: int) -> Bundle:
    return make_bundle("support", ENV, note=f"v{n}")


def deploy(target: BatchTarget, store: audit.AuditStore, n: int) -> None:
    live = target.read_all()
    plan = planner.plan(ENV, {"support": version(n)}, live)
    assert engine.apply(plan, target, store, WHO, live=live).ok


def roll(target: BatchTarget, store: audit.AuditStore) -> rollback.Restored:
    return rollback.rollback(
        target, store, "support", WHO, to=None, find_bundle=lambda r: None, environment=ENV
    )


def test_a_second_rollback_goes_further_back_never_to_the_bad_revision(
    opener: Opener,  # noqa: F811
    tmp_path: Path,
) -> None:
    target, store = opener(), audit.FileAuditStore(tmp_path / "audit.jsonl")
    for n in (1, 2, 3):
        deploy(target, store, n)
    first = roll(target, store)
    assert (first.before, first.revision) == (version(3).revision, version(2).revision)
    second = roll(target, store)  # without the fix: back to v3, the revision rolled back
    assert (second.before, second.revision) == (version(2).revision, version(1).revision)
    with pytest.raises(AlmError, match=r"no revision before .* other than .*rolled back from"):
        roll(target, store)
    live = target.read("support")
    assert live is not None and live.bundle.revision == version(1).revision
    assert audit.verify_store(store) is None


def test_a_revision_deployed_again_after_the_pin_is_lifted_can_be_restored(
    opener: Opener,  # noqa: F811
    tmp_path: Path,
) -> None:
    target, store = opener(), audit.FileAuditStore(tmp_path / "audit.jsonl")
    for n in (1, 2):
        deploy(target, store, n)
    assert roll(target, store).revision == version(1).revision  # from v2
    assert rollback.unpin(target, store, "support", WHO, environment=ENV) is not None
    deploy(target, store, 2)  # v2 was fine after all: deployed again, then v3
    deploy(target, store, 3)
    assert roll(target, store).revision == version(2).revision


def test_an_agent_deleted_by_prune_is_restored_and_pinned(
    opener: Opener,  # noqa: F811
    tmp_path: Path,
) -> None:
    target, store = opener(), audit.FileAuditStore(tmp_path / "audit.jsonl")
    for n in (1, 2):
        deploy(target, store, n)
    live = target.read_all()
    pruned = planner.plan(ENV, {}, live, prune=True)
    assert engine.apply(pruned, target, store, WHO, live=live).ok
    assert target.read("support") is None
    done = roll(target, store)  # without the fix: "not deployed: nothing to roll back"
    assert (done.before, done.revision) == ("", version(2).revision)
    restored = target.read("support")
    assert restored is not None and restored.bundle.pin is not None
    assert restored.bundle.revision == version(2).revision and restored.bundle.intact
    live = target.read_all()
    again = planner.plan(ENV, {}, live, prune=True)  # the pin holds against --prune
    assert [a.kind for a in again.actions] == ["pinned"]
    with pytest.raises(AlmError, match="never-here is not deployed in staging: nothing to"):
        rollback.rollback(
            target, store, "never-here", WHO, to=None, find_bundle=lambda r: None,
            environment=ENV,
        )  # fmt: skip
    assert audit.verify_store(store) is None


ENVIRONMENTS = DEV_ON_A_DIRECTORY
AGENT_FILE = "agents/support-triage/agent.yaml"


def test_alm_rollback_twice_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo: GitRepo = deploy_repo(tmp_path / "repo", ENVIRONMENTS, "one directory environment")

    def alm(*args: str) -> tuple[int, str, str]:
        return run_cli(capsys, "-C", str(repo.path), *args)

    def live() -> str:
        code, out, err = alm("status", "--env", "dev", "--format", "json")
        assert code == 0, err
        return str(json.loads(out)["agents"][-1]["live"])  # support-triage sorts last

    revisions = []
    for was, now in (("0,", "0.3,"), ("0.3,", "0.5,"), (None, None)):
        assert alm("apply", "--env", "dev")[0] == 0
        revisions.append(live())
        if was is not None and now is not None:
            repo.replace(AGENT_FILE, f"temperature: {was}", f"temperature: {now}")
            repo.commit(f"temperature {now}")
    assert len(set(revisions)) == 3
    for expected in (revisions[1], revisions[0]):
        code, out, err = alm("rollback", "support-triage", "--env", "dev")
        assert code == 0, err
        assert live() == expected, out
    code, _, err = alm("rollback", "support-triage", "--env", "dev")
    assert code == 1 and "(rolled back from); name one with --to" in err
    assert live() == revisions[0]
