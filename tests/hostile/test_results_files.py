"""Classes 4 and 6, results files: ``alm eval merge`` and ``alm eval compare`` read results
JSON that another job (or an attacker) wrote. Every bad file is a clear error naming it,
exit 1, never exit 4; impossible shards are refused without allocating; and the work
done is linear in the size of the file (counted, never timed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.errors import AlmError
from reconciler.evals import results as results_module
from reconciler.evals.records import CaseResult
from reconciler.evals.results import Results, RunInfo, Shard, build, rescore, score, to_json
from reconciler.evals.results_merge import merge
from tests.evalrecords import trial, trials
from tests.gitrepo import GitRepo

AGENT = "support-triage"


def _results(cases: list[CaseResult], shard: Shard | None = None) -> Results:
    agents = sorted({c.agent for c in cases})
    scored = [score(a, "openai/gpt-4.1-mini", {}, cases, bundle_hash="abc") for a in agents]
    return build(RunInfo(ref="HEAD", commit="c0ffee", mode="replay", shard=shard), scored, cases)


def _document(shard: Shard | None = None) -> dict[str, Any]:
    cases = [*trials("double-charge", "PF"), trial("sso"), trial("slow", "not_run")]
    data: dict[str, Any] = json.loads(to_json(_results(cases, shard)))
    return data


def _cli(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["-C", str(repo.path), "eval", *args])
    out, err = capsys.readouterr()
    assert "unexpected error" not in err and "Traceback" not in err
    return code, out, err


Command = Callable[[GitRepo, pytest.CaptureFixture[str], Path, Path], tuple[int, str, str]]


def _merge(repo: GitRepo, capsys: pytest.CaptureFixture[str], bad: Path, out: Path) -> Any:
    return _cli(repo, capsys, "merge", str(bad), "--out", str(out))


def _compare(repo: GitRepo, capsys: pytest.CaptureFixture[str], bad: Path, out: Path) -> Any:
    good = out.with_name("good.json")
    good.write_text(json.dumps(_document()), "utf-8")
    return _cli(repo, capsys, "compare", str(good), str(bad))


COMMANDS: dict[str, Command] = {"merge": _merge, "compare": _compare}


def _edit(change: Callable[[dict[str, Any]], None]) -> bytes:
    data = _document()
    change(data)
    return json.dumps(data).encode()


def _text(old: str, new: str) -> bytes:
    text = json.dumps(_document())
    assert old in text
    return text.replace(old, new, 1).encode()


def _case(field: str, value: Any, index: int = 0) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["cases"][index].__setitem__(field, value)


def _deep_arguments(data: dict[str, Any]) -> None:
    nested = json.loads("[" * 90 + "]" * 90)
    data["cases"][0]["trajectory"]["tool_calls"][0]["arguments"] = {"x": nested}


def _top(field: str, value: Any) -> bytes:
    return _edit(lambda data: data.__setitem__(field, value))


def _shard(index: int, count: int) -> bytes:
    return _edit(lambda data: data["run"].__setitem__("shard", {"index": index, "count": count}))


def _not_utf8() -> bytes:
    return json.dumps(_document()).encode().replace(b'"replay"', b'"r\xe9play"', 1)


TRIAL = f"case {AGENT}/routing/double-charge trial"
DEEP = ": nested too deep; expected at most 80 levels"
FINITE = "expected a finite number"
SHARDS = "is impossible; expected 1 <= index <= count <= 10000"
ATTACKS: dict[str, tuple[bytes, str]] = {
    "not-utf8": (_not_utf8(), ": not UTF-8; expected UTF-8 text"),
    "deeply-nested": (b"[" * 100_000 + b"]" * 100_000, DEEP),
    "deep-arguments": (_edit(_deep_arguments), DEEP),
    "infinite-number": (
        _text('"cost_usd": 0.01', '"cost_usd": 1e400'),
        f"1e400 is out of range; {FINITE}",
    ),
    "nan": (_text('"cost_usd": 0.01', '"cost_usd": NaN'), f": NaN is not JSON; {FINITE}"),
    "huge-integer": (
        _text('"trial": 0', '"trial": ' + "9" * 100_000),
        ": an integer too long to read; expected at most 4300 digits",
    ),
    "version-float": (_top("schema_version", 1.0), ": schema_version 1.0 is not supported"),
    "version-string": (_top("schema_version", "1"), ': schema_version "1" is not supported'),
    "version-bool": (_top("schema_version", True), ": schema_version true is not supported"),
    "shard-0-of-0": (_shard(0, 0), f": run.shard: 0/0 {SHARDS}"),
    "shard-1-of-a-billion": (_shard(1, 10**9), f": run.shard: 1/1000000000 {SHARDS}"),
    "shard-index-past-count": (_shard(3, 2), f": run.shard: 3/2 {SHARDS}"),
    "passed-with-failures": (
        _edit(_case("failures", [{"check": "outcome", "message": "x"}])),
        f": {TRIAL} 0: status passed with failures; expected no failures",
    ),
    "failed-without-failures": (
        _edit(_case("failures", [], index=1)),
        f": {TRIAL} 1: status failed without a failure; expected at least one",
    ),
    "trial-past-repeats": (
        _edit(_case("trial", 7)),
        f": case {AGENT}/routing/double-charge trial 7: trial 7 of 2 repeats; "
        "expected 0 <= trial < repeats",
    ),
    "negative-cost": (
        _text('"cost_usd": 0.01', '"cost_usd": -5'),
        "a negative count, cost or latency in trajectory; expected numbers >= 0",
    ),
    "a-list-for-run": (_top("run", []), ": not a valid results file: run: expected an object"),
    "a-string-for-cases": (
        _top("cases", "all passed"),
        ": not a valid results file: cases: expected an array",
    ),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_hostile_results_file_is_a_clear_error(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, attack: str
) -> None:
    content, expected = ATTACKS[attack]
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    out = tmp_path / "merged.json"
    code, _, err = COMMANDS[command](mini, capsys, bad, out)
    assert code == 1
    (line,) = err.splitlines()
    assert line.startswith(f"alm: {bad}") and expected in line
    assert not out.exists()


def test_not_utf8_names_line_and_column(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{\n  "schema_version": 1,\n  "run": "\xff"}')
    code, _, err = _cli(mini, capsys, "merge", str(bad), "--out", str(tmp_path / "o.json"))
    assert code == 1
    assert err == f"alm: {bad}:3:11: not UTF-8; expected UTF-8 text\n"


def test_a_fifo_is_refused_without_hanging(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    code, _, err = _cli(mini, capsys, "merge", str(fifo), "--out", str(tmp_path / "o.json"))
    assert code == 1
    assert err == f"alm: {fifo}: not a regular file; expected a results JSON file\n"


def test_an_oversized_file_is_refused_unread(
    mini: GitRepo,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(results_module, "MAX_BYTES", 1 << 20)  # 256 MiB is too big to write here
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 << 20) + json.dumps(_document()).encode())
    code, _, err = _cli(mini, capsys, "merge", str(big), "--out", str(tmp_path / "o.json"))
    assert code == 1
    assert err == f"alm: {big}: larger than 1 MiB; expected a results JSON file\n"


def test_a_forged_shard_count_is_refused_without_allocating() -> None:
    """merge() itself, on Results built in code (no file check in front): listing the
    missing shards of 1/10^12 must not build a list, or a set, of 10^12 numbers."""
    part = _results([trial("a")], Shard(1, 10**12))
    missing = r"missing shard\(s\) 2/1000000000000, .*, 11/1000000000000 and 999999999989 more"
    with pytest.raises(AlmError, match=missing):
        merge(part)


def test_merge_writes_out_when_trials_did_not_run(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one, two, out = (tmp_path / n for n in ("1.json", "2.json", "all.json"))
    one.write_text(json.dumps(_document(Shard(1, 2))), "utf-8")
    other = _results([trial("late", "not_run")], Shard(2, 2))
    two.write_text(to_json(other), "utf-8")
    code, stdout, _ = _cli(mini, capsys, "merge", str(one), str(two), "--out", str(out))
    assert code == 1 and "not run" in stdout
    assert len(json.loads(out.read_text("utf-8"))["cases"]) == 5


# --- linear work ------------------------------------------------------------------------


class Counted(tuple[CaseResult, ...]):
    """A tuple of cases that counts full passes over it."""

    passes = 0

    def __iter__(self) -> Iterator[CaseResult]:
        Counted.passes += 1
        return super().__iter__()


def _many_agents(agents: int) -> Results:
    cases = [trial("c", agent=f"agent-{i:05d}") for i in range(agents)]
    return _results(cases)


@pytest.mark.parametrize("agents", [10, 1000])
def test_rescoring_passes_over_the_cases_a_constant_number_of_times(agents: int) -> None:
    """Before, every agent filtered every case: agents x cases steps (quadratic for a
    file with one case per agent). Now the number of passes does not grow with agents."""
    counted = replace(_many_agents(agents), cases=Counted(_many_agents(agents).cases))
    Counted.passes = 0
    rescored = rescore(counted)
    assert Counted.passes == 1
    assert len(rescored.agents) == agents
    assert all(len(rescored.cases_of(a.agent)) == 1 for a in rescored.agents)


def test_merging_passes_over_each_input_a_constant_number_of_times() -> None:
    parts = [_many_agents(500), _results([trial("x", agent="zz")])]
    counted = [
        replace(p, cases=Counted(p.cases), run=replace(p.run, shard=Shard(i + 1, 2)))
        for i, p in enumerate(parts)
    ]
    Counted.passes = 0
    merged = merge(*counted)
    assert Counted.passes <= 2 * len(counted)
    assert len(merged.cases) == 501
