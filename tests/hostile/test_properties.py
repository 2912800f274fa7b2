"""Property: whatever a pull request puts in a policy, an eval suite, a cassette or a
results file, `alm validate`, `alm policy check`, `alm eval`, `alm eval merge` and
`alm eval compare` exit 0..3 with no traceback and no "unexpected error", and finish.

Mutations: bytes (flip, insert, delete, truncate) and structure (a value swapped for a
wrong type, nesting hundreds or thousands deep, huge numbers, control characters, NaN
and infinities). The CLI runs in-process; an alarm is the hang guard (a hang fails the
example instead of blocking the suite), not a timing assertion.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from tests.gitrepo import GitRepo, init_repo
from tests.hostile.agent_repo import AGENT, CASE
from tests.test_spec_properties import json_paths

HANG_GUARD_S = 60
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
DEEP_MARK = "__alm_deep__"


class Hung(BaseException):  # not an Exception: alm's own handlers must not swallow it
    pass


@contextlib.contextmanager
def hang_guard(seconds: int = HANG_GUARD_S) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hung(f"alm did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def alm(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> int:
    with hang_guard():
        code = main(["-C", str(repo), *args])
    out, err = capsys.readouterr()
    output = out + err
    assert 0 <= code <= 3, (args, code, output[-2000:])
    assert "Traceback" not in output and "unexpected error" not in output, output[-2000:]
    return code


# --- mutations -------------------------------------------------------------------------


def byte_edits(size: int) -> st.SearchStrategy[list[tuple[str, int, Any]]]:
    edit = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, size), st.integers(0, 255)),
        st.tuples(st.just("insert"), st.integers(0, size), st.binary(max_size=12)),
        st.tuples(st.just("delete"), st.integers(0, size), st.integers(1, 40)),
        st.tuples(st.just("truncate"), st.integers(0, size), st.just(0)),
    )
    return st.lists(edit, min_size=1, max_size=5)


def apply_bytes(raw: bytes, edits: list[tuple[str, int, Any]]) -> bytes:
    data = bytearray(raw)
    for op, at, arg in edits:
        at = min(at, len(data))
        if op == "flip" and at < len(data):
            data[at] = arg
        elif op == "insert":
            data[at:at] = arg
        elif op == "delete":
            del data[at : at + arg]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


_hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["\x00", "\x1b[31m", "a\nb\tc", "::error::x", "\u202e", "@everyone"]),
    st.just(DEEP_MARK),
)
_hostile = st.recursive(
    _hostile_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)


@st.composite
def structural(draw: st.DrawFn, base: Any) -> Any:
    """base with 1-3 values replaced by hostile ones, or deleted."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = json_paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.integers(0, 4)) == 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_hostile)
    return data


def deep_text(levels: int, json_style: bool) -> str:
    if json_style:
        return '{"a":' * levels + "1" + "}" * levels
    return "{a: " * levels + "1" + "}" * levels


def dump(data: Any, fmt: str, levels: int) -> bytes:
    """YAML or JSON text; the deep marker becomes a value nested `levels` deep."""
    if fmt == "json":
        text = json.dumps(data, allow_nan=True)
        return text.replace(json.dumps(DEEP_MARK), deep_text(levels, True)).encode()
    try:
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10**6)
    except (yaml.YAMLError, ValueError, OverflowError):
        text = yaml.safe_dump({"unrepresentable": True})
    return text.replace(DEEP_MARK, deep_text(levels, False)).encode("utf-8", "surrogatepass")


def mutated(base: bytes, fmt: str) -> st.SearchStrategy[bytes]:
    data = json.loads(base) if fmt == "json" else yaml.safe_load(base)
    levels = st.sampled_from([3, 60, 500, 5000])
    return st.one_of(
        byte_edits(len(base)).map(lambda edits: apply_bytes(base, edits)),
        st.tuples(structural(data), levels).map(lambda pair: dump(pair[0], fmt, pair[1])),
    )


# --- the repository and the files mutated ----------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitRepo]:
    repo = init_repo(tmp_path_factory.mktemp("props") / "repo")
    yield repo
    shutil.rmtree(repo.path, ignore_errors=True)


@contextlib.contextmanager
def replaced(repo: GitRepo, rel: str, data: bytes) -> Iterator[None]:
    path = repo.path / rel
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


def _base(repo: GitRepo, rel: str) -> bytes:
    return (repo.path / rel).read_bytes()


POLICY = "policies/tools.yaml"
SUITE = f"evals/{AGENT}/drafts.yaml"
EVAL = ("eval", "--agent", AGENT, "--case", CASE, "--no-cache")


def _first_cassette(repo: GitRepo) -> str:
    for path in sorted((repo.path / "evals" / AGENT / "cassettes").glob("*.json")):
        request = json.loads(path.read_text("utf-8"))["request"]
        if request["message_count"] == 2 and "renewal reminder" in str(request["last_message"]):
            return path.relative_to(repo.path).as_posix()
    raise AssertionError("no first-turn cassette for the case")


def _policy_files(repo: GitRepo) -> list[str]:
    return sorted(p.relative_to(repo.path).as_posix() for p in repo.path.glob("policies/*.yaml"))


def test_the_unmutated_files_pass_through_every_command(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The control: every command runs on the files the mutations start from."""
    assert alm(capsys, fleet.path, "validate") == 0
    alm(capsys, fleet.path, "policy", "check")
    results = tmp_path / "r.json"
    alm(capsys, fleet.path, *EVAL, "--out", str(results))
    assert json.loads(results.read_text("utf-8"))["cases"][0]["status"] != "not_run"


@SETTINGS
@given(data=st.data())
def test_mutated_policies(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    rel = data.draw(st.sampled_from(_policy_files(fleet)))
    raw = data.draw(mutated(_base(fleet, rel), "yaml"))
    with replaced(fleet, rel, raw):
        alm(capsys, fleet.path, "validate", "--format", "json")
        alm(capsys, fleet.path, "policy", "check", "--format", "json")


@SETTINGS
@given(data=st.data())
def test_mutated_eval_suites(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, data: st.DataObject
) -> None:
    raw = data.draw(mutated(_base(fleet, SUITE), "yaml"))
    with replaced(fleet, SUITE, raw):
        alm(capsys, fleet.path, "validate")
        code = alm(capsys, fleet.path, *EVAL, "--out", str(tmp_path / "r.json"))
        if code in (0, 1):
            json.loads((tmp_path / "r.json").read_text("utf-8"))  # --out is written


@SETTINGS
@given(data=st.data())
def test_mutated_cassettes(
    fleet: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, data: st.DataObject
) -> None:
    rel = _first_cassette(fleet)
    raw = data.draw(mutated(_base(fleet, rel), "json"))
    with replaced(fleet, rel, raw):
        out = tmp_path / "r.json"
        assert alm(capsys, fleet.path, *EVAL, "--out", str(out)) in (0, 1)
        json.loads(out.read_text("utf-8"))
        alm(capsys, fleet.path, "policy", "check")


@pytest.fixture(scope="module")
def results(fleet: GitRepo, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("results") / "base.json"
    assert main(["-C", str(fleet.path), *EVAL[:-3], "--no-cache", "--out", str(out)]) in (0, 1)
    return out.read_bytes()


@SETTINGS
@given(data=st.data())
def test_mutated_results_files(
    fleet: GitRepo,
    results: bytes,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    data: st.DataObject,
) -> None:
    raw = data.draw(mutated(results, "json"))
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_bytes(results)
    head.write_bytes(raw)
    alm(capsys, fleet.path, "eval", "merge", str(head), "--out", str(tmp_path / "m.json"))
    alm(capsys, fleet.path, "eval", "compare", str(base), str(head))
    alm(capsys, fleet.path, "eval", "compare", str(head), str(base))


def test_the_mutations_do_reach_the_hostile_values() -> None:
    """The strategies are not vacuous: deep nesting, NaN and huge numbers are produced."""
    text = dump({"a": DEEP_MARK, "b": math.nan, "c": 10**400}, "json", 5000).decode()
    assert text.count('{"a":') > 5000 and "NaN" in text and "1" + "0" * 400 in text
    assert json.loads(dump({"x": [DEEP_MARK]}, "json", 3)) == {"x": [{"a": {"a": {"a": 1}}}]}
    assert apply_bytes(b"abcdef", [("flip", 0, 65), ("delete", 1, 2)]) == b"Adef"
