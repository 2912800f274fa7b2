"""The signed parse cache of `alm validate`: hits, misses, and packs it must not trust."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from reconciler.gcpause import gc_paused
from reconciler.spec.loader import StoredParseCache, load_worktree
from reconciler.spec.parsecache import CACHE_FOLDER, KEY_NAME, PACK_NAME, ParseStore
from reconciler.spec.yamlsafe import load_documents
from tests.cli import run
from tests.gitrepo import GitRepo

GOOD = b"a: 1\nb:\n  c: [x, {d: y}]\n  e: 2.5\n---\nf: true\n"


def store(root: Path, keys: Path) -> ParseStore:
    opened = ParseStore.open(root, keys)
    assert opened is not None
    return opened


def saved(root: Path, keys: Path, *files: tuple[str, bytes]) -> None:
    first = store(root, keys)
    for name, raw in files:
        first.documents(name, raw)
    first.save()


def test_a_hit_gives_the_values_and_positions_of_a_fresh_parse(tmp_path: Path) -> None:
    saved(tmp_path, tmp_path / "keys", ("f.yaml", GOOD))
    again = store(tmp_path, tmp_path / "keys")
    cached = again.documents("g.yaml", GOOD)
    fresh = load_documents("g.yaml", GOOD)
    assert again.hits == 1
    assert [d.data for d in cached] == [d.data for d in fresh]
    assert [d.file for d in cached] == ["g.yaml", "g.yaml"]
    assert [d.positions for d in cached] == [d.positions for d in fresh]
    assert cached[0].location(("b", "c", 1, "d")) == fresh[0].location(("b", "c", 1, "d"))


def test_changed_bytes_miss(tmp_path: Path) -> None:
    saved(tmp_path, tmp_path / "keys", ("f.yaml", GOOD))
    again = store(tmp_path, tmp_path / "keys")
    (doc, _) = again.documents("f.yaml", GOOD.replace(b"a: 1", b"a: 3"))
    assert again.hits == 0 and doc.data["a"] == 3


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # cut short
        lambda raw: b"\0" * 40 + raw[40:],  # signature wiped
        lambda raw: raw.replace(b'"a":1', b'"a":9'),  # values forged, signature kept
        lambda raw: b"",
    ],
)
def test_a_damaged_or_forged_pack_is_ignored(tmp_path: Path, damage: object) -> None:
    keys = tmp_path / "keys"
    saved(tmp_path, keys, ("f.yaml", GOOD))
    pack = tmp_path / CACHE_FOLDER / PACK_NAME
    assert b'"a":1' in pack.read_bytes()
    pack.write_bytes(damage(pack.read_bytes()))  # type: ignore[operator]
    again = store(tmp_path, keys)
    (doc, _) = again.documents("f.yaml", GOOD)
    assert again.hits == 0 and doc.data["a"] == 1


def test_a_pack_signed_with_another_key_is_ignored(tmp_path: Path) -> None:
    """What a pull request could commit: good values for a bad file's bytes."""
    bad = b"apiVersion: alm/v1\nkind: Agent\nnot_a_field: 1\n"
    theirs = store(tmp_path, tmp_path / "their-keys")
    theirs.documents("f.yaml", bad)
    digest = next(iter(theirs.used))
    theirs.used[digest] = [{"apiVersion": "alm/v1", "kind": "Agent", "forged": True}]
    theirs.save()
    mine = store(tmp_path, tmp_path / "my-keys")
    (doc,) = mine.documents("f.yaml", bad)
    assert mine.hits == 0 and "forged" not in doc.data


def test_a_pack_of_another_version_is_ignored(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = store(tmp_path, keys)
    first.version = "0/old"
    first.documents("f.yaml", GOOD)
    first.save()
    again = store(tmp_path, keys)
    again.documents("f.yaml", GOOD)
    assert again.hits == 0


def test_values_json_cannot_give_back_are_parsed_each_time(tmp_path: Path) -> None:
    odd = b"when: 2024-06-11\nblob: !!binary aGk=\n1: one\nnan: .nan\n"
    saved(tmp_path, tmp_path / "keys", ("f.yaml", odd), ("g.yaml", GOOD))
    again = store(tmp_path, tmp_path / "keys")
    (doc,) = again.documents("f.yaml", odd)
    assert again.hits == 0 and doc.data == load_documents("f.yaml", odd)[0].data


def test_a_bad_key_file_means_no_cache(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / KEY_NAME).write_bytes(b"short")
    assert ParseStore.open(tmp_path, keys) is None


def test_the_key_is_private_and_kept(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = store(tmp_path, keys)
    assert (keys / KEY_NAME).stat().st_mode & 0o777 == 0o600
    assert store(tmp_path, keys).key == first.key


def test_a_valid_file_from_the_cache_is_never_parsed_again(fleet_repo: GitRepo) -> None:
    """Places are looked up only for findings: a clean fleet keeps every position packed."""
    keys = fleet_repo.path / "keys"
    first = store(fleet_repo.path, keys)
    load_worktree(fleet_repo.path, StoredParseCache(first))
    first.save()
    again = store(fleet_repo.path, keys)
    state = load_worktree(fleet_repo.path, StoredParseCache(again))
    assert again.hits > 0 and state.findings == []
    from reconciler.spec.checks import validate

    assert validate(state) == []
    docs = [a.loaded.doc for a in state.agents]
    assert all(d.positions._unpack is not None for d in docs)


def test_validate_reports_the_same_findings_from_the_cache(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(fleet_repo.path / "xdg"))
    fleet_repo.replace("agents/email-drafting/agent.yaml", "  volume:", "  volumes:")
    fleet_repo.replace("evals/email-drafting/drafts.yaml", "tool: crm.get_account", "tool: x.y")
    cold = run(capsys, "-C", str(fleet_repo.path), "validate")
    assert (fleet_repo.path / CACHE_FOLDER / PACK_NAME).is_file()
    warm = run(capsys, "-C", str(fleet_repo.path), "validate")
    assert cold[0] == 1 and "volumes" in cold[1] and "drafts.yaml:" in cold[1]
    assert warm == cold


def test_gc_paused_leaves_no_young_backlog() -> None:
    """What the block allocated is not walked by the next young collection."""
    before = gc.isenabled()
    gc.enable()
    try:
        with gc_paused():
            kept = [{"k": [i]} for i in range(50_000)]
        assert gc.isenabled()
        assert gc.get_count()[0] < gc.get_threshold()[0]
        assert len(kept) == 50_000
    finally:
        if not before:
            gc.disable()


def test_reading_a_large_pack_runs_no_collection(tmp_path: Path) -> None:
    """A fleet's pack decodes into millions of small objects with no cycles: the collector
    stays out of it (it had doubled the read), and is on again afterwards."""
    files = [(f"f{i}.yaml", b"a: %d\nb: [x, {c: y}]\n" % i) for i in range(2_000)]
    saved(tmp_path, tmp_path / "keys", *files)
    passes: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        passes.append(phase)

    before = gc.isenabled()
    gc.enable()
    gc.callbacks.append(count)
    try:
        again = store(tmp_path, tmp_path / "keys")
        on_again = gc.isenabled()
    finally:
        gc.callbacks.remove(count)
        if not before:
            gc.disable()
    assert len(again.entries) == 2_000
    assert passes == []
    assert on_again


@pytest.mark.parametrize("link", [".alm", ".alm/cache", ".alm/cache/parse.json"])
def test_no_pack_is_read_or_written_through_a_link_out_of_the_repository(
    fleet_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    link: str,
) -> None:
    """A pull request that commits .alm (or part of it) as a link elsewhere gets no cache:
    alm neither writes its pack there nor reads one from there, and validates as usual."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "cache").mkdir(parents=True)
    planted = elsewhere / "cache" / PACK_NAME
    planted.write_bytes(b"planted")
    target = {".alm": elsewhere, ".alm/cache": elsewhere / "cache"}.get(link, planted)
    path = fleet_repo.path / link
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    fleet_repo.commit("attack: a committed link out of the repository")

    for _ in range(2):  # the second run would read what the first wrote
        code, out, _ = run(capsys, "-C", str(fleet_repo.path), "validate")
        assert code == 0 and "valid:" in out
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["cache", PACK_NAME]
    assert planted.read_bytes() == b"planted"
    assert ParseStore.open(fleet_repo.path, tmp_path / "keys") is None
