"""The audit log on a git branch, with real repositories: a local bare repository is
`origin`, clones are checkouts (one per runner). Concurrent appenders from two clones keep
one linear chain that verifies; a rejected push is sealed again on the fresh last line;
the branch only ever moves forward (origin refuses anything else, and its reflog shows
every move a fast-forward); tampering committed on the branch is found with its line."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from reconciler.deploy import audit
from reconciler.deploy.audit_git import GitAuditStore, open_log
from reconciler.errors import AlmError
from reconciler.spec.catalog import Environment
from tests.test_deploy_targets import GIT_ENV

BRANCH = "refs/heads/alm/audit"


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(repo)}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _origin(tmp_path: Path) -> Path:
    """A bare origin that refuses non-fast-forward pushes and deletions, and logs every
    move of its branches."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    settings = {
        "receive.denyNonFastForwards": "true",
        "receive.denyDeletes": "true",
        "core.logAllRefUpdates": "always",
    }
    for key, value in settings.items():
        _git(origin, "config", key, value)
    return origin


def _clone(origin: Path, path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(path)], check=True, capture_output=True)
    return path


def _env(**audit_settings: str) -> Environment:
    return Environment.model_validate(
        {
            "name": "dev",
            "target": {"type": "directory", "path": "x"},
            "audit": {"store": "git", **audit_settings},
        }
    )


def _store(root: Path, env: Environment | None = None) -> GitAuditStore:
    store = open_log(env or _env(), root, {**GIT_ENV, "HOME": str(root)}).store
    assert isinstance(store, GitAuditStore)
    return store


def _record(store: audit.AuditStore, agent: str) -> dict[str, object]:
    return audit.record(store, action="create", agent=agent, environment="dev", result="ok")


def _forward_only(origin: Path) -> None:
    """Every value the branch had on origin is an ancestor of the next: never forced."""
    moves = _git(origin, "reflog", "show", "--format=%H", BRANCH).splitlines()[::-1]
    assert moves
    for old, new in itertools.pairwise(moves):
        _git(origin, "merge-base", "--is-ancestor", old, new)
    assert _git(origin, "rev-list", "--merges", BRANCH) == ""  # one line of history


def test_records_are_committed_to_the_branch_and_pushed_to_origin(tmp_path: Path) -> None:
    origin = _origin(tmp_path)
    store = _store(_clone(origin, tmp_path / "a"))
    first, second = _record(store, "a1"), _record(store, "a2")
    assert _git(origin, "ls-tree", "--name-only", BRANCH).splitlines() == [
        "dev.jsonl",
        "dev.jsonl.head",
    ]
    assert _git(origin, "rev-list", "--count", BRANCH) == "2"  # one commit an append
    # a fresh clone (the next runner) reads the same chain, with its head
    again = _store(_clone(origin, tmp_path / "b"))
    assert audit.entries(again.read()) == [first, second]
    assert audit.verify_store(again) is None
    assert again.head() == audit.Head(
        2, audit.line_hash(again.read()[:-1].split(b"\n")[-1]), len(again.read())
    )
    assert not (tmp_path / "a" / ".alm").exists()  # nothing in the checkout
    _forward_only(origin)


def test_a_rejected_push_is_sealed_again_on_the_fresh_last_line(tmp_path: Path) -> None:
    origin = _origin(tmp_path)
    one = _store(_clone(origin, tmp_path / "one"))
    two = _store(_clone(origin, tmp_path / "two"))
    _record(one, "first")
    seen: list[bytes | None] = []

    def lines_after(last: bytes | None) -> bytes:
        seen.append(last)
        if len(seen) == 1:  # between our fetch and our push, another clone appends
            _record(two, "from-two")
        prev = audit.line_hash(last) if last else audit.GENESIS
        return audit.seal({"agent": "from-one", "environment": "dev"}, prev)[1]

    one.append(lines_after)
    lines = one.read().splitlines()
    assert len(seen) == 2 and seen[1] == lines[1]  # the second try chains onto two's line
    assert [audit.entries(one.read())[i]["agent"] for i in range(3)] == [
        "first",
        "from-two",
        "from-one",
    ]
    assert audit.verify_store(one) is None
    _forward_only(origin)


APPENDER = """
import sys
from pathlib import Path
from reconciler.deploy import audit
from reconciler.deploy.audit_git import open_log
from reconciler.spec.catalog import Environment
root, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
env = Environment.model_validate({"name": "dev", "target": {"type": "directory", "path": "x"},
                                  "audit": {"store": "git"}})
import os
store = open_log(env, root, os.environ).store
for i in range(count):
    audit.record(store, action="create", agent=f"{who}-{i}", environment="dev", result="ok")
"""


@pytest.mark.parametrize("remote", [True, False], ids=["two clones of one origin", "one repo"])
def test_concurrent_appenders_keep_one_linear_chain(tmp_path: Path, remote: bool) -> None:
    count = 12
    if remote:
        origin = _origin(tmp_path)
        roots = [_clone(origin, tmp_path / "a"), _clone(origin, tmp_path / "b")]
    else:
        origin = tmp_path / "repo"
        _git(tmp_path, "init", "-q", "-b", "main", str(origin))
        _git(origin, "config", "core.logAllRefUpdates", "always")
        roots = [origin, origin]
    env = {**os.environ, **GIT_ENV, "HOME": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(root), who, str(count)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for root, who in zip(roots, ["a", "b"], strict=True)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
    store = _store(roots[0])
    records = audit.entries(store.read())
    assert len(records) == 2 * count
    assert audit.verify_store(store) is None
    for who in "ab":  # each writer's records all there, in its own order
        mine = [r["agent"] for r in records if str(r["agent"]).startswith(f"{who}-")]
        assert mine == [f"{who}-{i}" for i in range(count)]
    assert _git(origin, "rev-list", "--count", BRANCH) == str(2 * count)
    _forward_only(origin)


def _tamper(origin: Path, work: Path, edit: str) -> None:
    """Someone checks the branch out, changes the log and pushes it as a normal commit."""
    _clone(origin, work)
    _git(work, "checkout", "-q", "alm/audit")
    log = work / "dev.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    if edit == "edit line 2":
        lines[1] = lines[1].replace(b'"agent":"a1"', b'"agent":"zz"')
    elif edit == "remove the last line":
        lines.pop()
    log.write_bytes(b"".join(lines))
    _git(work, "commit", "-q", "-am", "tidy the log")
    _git(work, "push", "-q", "origin", "alm/audit")


@pytest.mark.parametrize(
    ("edit", "line", "why"),
    [("edit line 2", 2, "edited"), ("remove the last line", 3, "missing")],
)
def test_tampering_on_the_branch_is_found_with_its_line(
    tmp_path: Path, edit: str, line: int, why: str
) -> None:
    origin = _origin(tmp_path)
    store = _store(_clone(origin, tmp_path / "a"))
    for agent in ("a0", "a1", "a2"):
        _record(store, agent)
    _tamper(origin, tmp_path / "tamper", edit)
    found = audit.verify_store(_store(tmp_path / "a"))
    assert found is not None and found.line == line and why in found.why


def test_a_log_without_its_final_newline_on_the_branch_is_not_appended_to(
    tmp_path: Path,
) -> None:
    origin = _origin(tmp_path)
    store = _store(_clone(origin, tmp_path / "a"))
    _record(store, "a0")
    work = _clone(origin, tmp_path / "edit")
    _git(work, "checkout", "-q", "alm/audit")
    (work / "dev.jsonl").write_bytes((work / "dev.jsonl").read_bytes() + b'{"half":')
    _git(work, "commit", "-q", "-am", "half a line")
    _git(work, "push", "-q", "origin", "alm/audit")
    tip = _git(origin, "rev-parse", BRANCH)
    with pytest.raises(AlmError, match="line 2 has no newline"):
        _record(store, "a1")
    assert _git(origin, "rev-parse", BRANCH) == tip  # nothing pushed


def test_an_explicit_repository_and_branch(tmp_path: Path) -> None:
    origin = _origin(tmp_path)
    work = tmp_path / "work"
    _git(tmp_path, "init", "-q", "-b", "main", str(work))  # no origin of its own
    store = _store(work, _env(repository=str(origin), branch="audit/trail"))
    _record(store, "a0")
    assert _git(origin, "ls-tree", "--name-only", "refs/heads/audit/trail") == (
        "dev.jsonl\ndev.jsonl.head"
    )
    assert (
        subprocess.run(
            ["git", "-C", str(work), "rev-parse", "-q", "--verify", BRANCH], capture_output=True
        ).returncode
        == 1
    )


def test_the_store_is_chosen_per_environment(tmp_path: Path) -> None:
    plain = Environment.model_validate(
        {"name": "dev", "target": {"type": "directory", "path": "x"}}
    )
    local = open_log(plain, tmp_path, {})
    assert isinstance(local.store, audit.FileAuditStore)
    assert local.store.path == tmp_path / ".alm" / "audit" / "dev.jsonl"
    assert _env().audit.branch == "alm/audit"
    with pytest.raises(ValidationError, match="setting of the git audit store only"):
        Environment.model_validate(
            {
                "name": "dev",
                "target": {"type": "directory", "path": "x"},
                "audit": {"branch": "alm/audit"},
            }
        )
    with pytest.raises(ValidationError, match="branch"):
        _env(branch="alm/../x")
