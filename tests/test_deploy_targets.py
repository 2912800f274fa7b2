"""One conformance suite for the three targets (directory, git with a local bare remote,
http against the reference registry run for real): reads, conditional writes, history,
batches. Target-specific behaviour is in test_deploy_targets_*.py."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.deploy.model import Conflict
from reconciler.deploy.targets import BatchTarget, Write, open_target
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment
from tests.registry_support import make_bundle, running_registry

ENV = "staging"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "alm tests",
    "GIT_AUTHOR_EMAIL": "tests@alm.invalid",
    "GIT_COMMITTER_NAME": "alm tests",
    "GIT_COMMITTER_EMAIL": "tests@alm.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}
Opener = Callable[[], BatchTarget]


def _environment(target: dict[str, str]) -> Environment:
    return Environment.model_validate({"name": ENV, "target": target})


@pytest.fixture(params=["directory", "git", "http"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """A function opening a new handle on one shared target (as a second process would)."""
    kind = request.param
    if kind == "directory":
        env = _environment({"type": "directory", "path": "deploy/staging"})
        yield lambda: open_target(env, tmp_path, {})
    elif kind == "git":
        remote = tmp_path / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
        env = _environment({"type": "git", "repository": str(remote)})
        vars_ = {**GIT_ENV, "HOME": str(tmp_path)}
        yield lambda: open_target(env, tmp_path, vars_)
    else:
        with running_registry(tmp_path / "registry", token="t0ken") as url:
            env = _environment({"type": "http", "url": url, "token_env": "REG_TOKEN"})
            yield lambda: open_target(env, tmp_path, {"REG_TOKEN": "t0ken"})


def test_an_empty_target_reads_empty(opener: Opener) -> None:
    target = opener()
    assert target.read_all() == {}
    assert target.read("support") is None
    assert target.history("support") == []


def test_put_then_read_back_the_same_bundle(opener: Opener) -> None:
    target = opener()
    bundle = make_bundle("support", ENV, prompt="hello")
    live = target.put(bundle, None)
    again = opener().read("support")
    assert again is not None and again.bundle == bundle and again.version == live.version
    assert again.bundle.intact
    assert set(opener().read_all()) == {"support"}


def test_create_over_an_existing_agent_is_a_conflict(opener: Opener) -> None:
    target = opener()
    first = target.put(make_bundle("support", ENV, v=1), None)
    with pytest.raises(Conflict):
        opener().put(make_bundle("support", ENV, v=2), None)
    assert opener().read("support") == first


def test_a_stale_expected_never_overwrites(opener: Opener) -> None:
    one, two = opener(), opener()
    read_by_one = one.put(make_bundle("support", ENV, v=1), None)
    newer = two.put(make_bundle("support", ENV, v=2), read_by_one)
    with pytest.raises(Conflict):
        one.put(make_bundle("support", ENV, v=3), read_by_one)  # one still holds v1
    with pytest.raises(Conflict):
        one.delete("support", read_by_one)
    assert opener().read("support") == newer


def test_delete_needs_the_version_read_and_is_recorded(opener: Opener) -> None:
    target = opener()
    live = target.put(make_bundle("support", ENV, v=1), None)
    target.delete("support", live)
    assert opener().read("support") is None
    history = opener().history("support")
    assert [(h.revision, h.deleted) for h in history] == [
        (live.bundle.revision, False),
        (live.bundle.revision, True),
    ]


def test_history_keeps_every_revision_with_its_bundle_oldest_first(opener: Opener) -> None:
    target = opener()
    bundles = [make_bundle("support", ENV, v=v) for v in range(3)]
    live = None
    for bundle in bundles:
        live = target.put(bundle, live)
    history = opener().history("support")
    assert [h.revision for h in history] == [b.revision for b in bundles]
    assert history[0].bundle == bundles[0]  # what rollback --to restores


def test_a_batch_reports_each_agent_and_a_conflict_does_not_stop_the_rest(
    opener: Opener,
) -> None:
    target = opener()
    held = target.put(make_bundle("held", ENV, v=1), None)
    opener().put(make_bundle("held", ENV, v=2), held)  # someone else moved it
    gone = target.put(make_bundle("gone", ENV), None)
    writes = [
        Write("new-one", make_bundle("new-one", ENV), None),
        Write("held", make_bundle("held", ENV, v=3), held),
        Write("gone", None, gone),
    ]
    result = opener().write_many(writes)
    assert set(result.done) == {"new-one", "gone"} and result.done["gone"] is None
    assert isinstance(result.failed["held"], Conflict) and not result.ok
    live = opener().read_all()
    assert set(live) == {"new-one", "held"}
    assert live["held"].bundle.content["v"] == 2


def test_a_bundle_of_another_environment_is_refused(opener: Opener) -> None:
    with pytest.raises(AlmError, match="prod"):
        opener().put(make_bundle("support", "prod"), None)
    assert opener().read_all() == {}


def test_many_agents_in_one_batch(opener: Opener) -> None:
    writes = [Write(f"agent-{i}", make_bundle(f"agent-{i}", ENV, i=i), None) for i in range(60)]
    result = opener().write_many(writes)
    assert result.ok and len(result.done) == 60
    live = opener().read_all()
    assert sorted(live) == sorted(w.agent for w in writes)
    assert all(live[w.agent].version == result.done[w.agent].version for w in writes)  # type: ignore[union-attr]


def test_an_agent_name_that_is_a_path_is_refused(opener: Opener) -> None:
    with pytest.raises(AlmError, match="expected lowercase"):
        opener().read("../etc/passwd")
