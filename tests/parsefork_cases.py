"""Parsing in a forked child (parsefork) through the parse store: the same documents and
findings as parsing here, whoever parsed what, and nothing lost when the child fails.

Not collected by name (no test_ prefix): a fork needs a process with no other thread,
which a pytest-xdist worker never is, so tests/test_spec_parsefork.py runs this file in
a fresh interpreter and fails unless every case here ran and passed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.spec import parsefork
from reconciler.spec.loader import StoredParseCache, load_worktree
from reconciler.spec.parsecache import CACHE_FOLDER, PACK_NAME, ParseStore, _fresh_json
from reconciler.spec.yamlsafe import load_documents
from tests.cli import run
from tests.gitrepo import GitRepo


@pytest.fixture(autouse=True)
def forkable() -> None:
    """Asked when each test runs: a thread another test left running rules a fork out."""
    if not parsefork.can_fork(1, 1):
        pytest.skip("needs os.fork, two cores and no other thread running")


FILES = [
    *((f"evals/a{i:02d}/s.yaml", f"n: {i}\nlist: [x, {{k: v{i}}}]\n".encode()) for i in range(20)),
    ("evals/b/dated.yaml", b"when: 2024-06-11\n"),  # JSON cannot hold it: parsed here
    ("evals/b/bad.yaml", b"a: [1\n"),  # an error: parsed (and worded) here
    ("evals/b/anchors.yaml", b"a: &x {k: 1}\nb: *x\n"),
    ("evals/b/twice.yaml", b"n: 0\nlist: [x, {k: v0}]\n"),  # the bytes of a00 again
]


def outcome(file: str, raw: bytes, store: ParseStore | None) -> object:
    try:
        docs = load_documents(file, raw) if store is None else store.documents(file, raw)
    except SpecError as err:
        return [(f.code, f.message, f.location) for f in err.findings]
    return [(d.file, d.data, d.positions) for d in docs]


def opened(tmp_path: Path) -> ParseStore:
    store = ParseStore.open(tmp_path, tmp_path / "keys")
    assert store is not None
    return store


def test_what_the_child_parsed_is_what_parsing_here_gives(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.prefetch(FILES, min_files=1)
    assert store.forked is not None
    reply = store.forked.reply()  # stops the child, wherever it got to
    results = [outcome(file, raw, store) for file, raw in FILES]
    assert results == [outcome(file, raw, None) for file, raw in FILES]
    assert set(reply) <= set(store.order)


def test_a_child_left_to_finish_parses_every_file_it_can(tmp_path: Path) -> None:
    files = [(file, raw, f"d{i}") for i, (file, raw) in enumerate(FILES)]
    forked = parsefork.start(lambda: files, _fresh_json)
    assert forked is not None
    reply = forked._collect()  # waits for the child to go through all of them
    assert set(reply) == {digest for _, _, digest in files}
    parsed = {file: reply[digest] for file, _, digest in files}
    assert parsed["evals/b/dated.yaml"] is None and parsed["evals/b/bad.yaml"] is None
    assert parsed["evals/a03/s.yaml"] is not None


def test_a_failed_child_leaves_every_file_to_the_parent(tmp_path: Path) -> None:
    def broken(_file: str, _raw: bytes) -> None:
        raise RuntimeError("the child breaks")

    forked = parsefork.start(lambda: [(f, r, f) for f, r in FILES], broken)
    assert forked is not None and forked.reply() == {}
    store = opened(tmp_path)
    store.forked, store.order = forked, {file: i for i, (file, _) in enumerate(FILES)}
    assert [outcome(f, r, store) for f, r in FILES] == [outcome(f, r, None) for f, r in FILES]


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not parsefork.can_fork(1000, 1)
    finally:
        stop.set()
        thread.join()
    assert not parsefork.can_fork(10, 200)  # too few files to be worth a fork


def test_a_broken_fleet_has_the_same_findings_with_a_child(
    fleet_repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet_repo.replace("agents/email-drafting/agent.yaml", "  volume:", "  volumes:")
    fleet_repo.replace("evals/email-drafting/drafts.yaml", "tool: crm.get_account", "tool: x.y")
    plain = load_worktree(fleet_repo.path)
    monkeypatch.setattr(parsefork, "MIN_FILES", 1)
    store = opened(fleet_repo.path)
    forked = load_worktree(fleet_repo.path, StoredParseCache(store))
    assert store.forked is not None and store.forked._reply is not None  # waited for
    assert plain.findings and forked.findings == plain.findings
    assert [a.loaded.doc.data for a in forked.agents] == [a.loaded.doc.data for a in plain.agents]


def test_a_cold_validate_forks_first_and_reports_the_same(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no pack, the child is started before the models import and reads the tree
    itself; the report is the one a run without any child gives."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(fleet_repo.path / "xdg"))
    fleet_repo.replace("agents/email-drafting/agent.yaml", "  volume:", "  volumes:")
    fleet_repo.replace("evals/email-drafting/drafts.yaml", "tool: crm.get_account", "tool: x.y")
    started: list[object] = []
    real_start = parsefork.start

    def start(listing: parsefork.Listing, parse: parsefork.ParseJson) -> object:
        started.append(listing)
        return real_start(listing, parse)

    monkeypatch.setattr(parsefork, "start", start)
    monkeypatch.setattr(parsefork, "MIN_FILES", 1)
    cold = run(capsys, "-C", str(fleet_repo.path), "validate")
    assert len(started) == 1  # the early child; the loader's prefetch kept it
    (fleet_repo.path / CACHE_FOLDER / PACK_NAME).unlink()
    monkeypatch.setattr(parsefork, "can_fork", lambda *_: False)
    alone = run(capsys, "-C", str(fleet_repo.path), "validate")
    assert cold[0] == 1 and "volumes" in cold[1] and "drafts.yaml:" in cold[1]
    assert alone == cold
