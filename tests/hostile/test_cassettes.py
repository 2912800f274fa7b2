"""Class 5 (and the cassette part of class 4): a pull request's cassettes are hostile data.

Each attack tampers with one committed cassette of the example fleet, then runs
``alm eval`` through the CLI entry point on a real git repository. The trial that
would replay the tampered cassette is not run, with the exact reason; it is never a
pass and never a crash (exit 4); the other trials still run and ``--out`` is written.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from tests.gitrepo import GitRepo

AGENT = "email-drafting"
FOLDER = f"evals/{AGENT}/cassettes"
TRIALS = 5


def _target(repo: GitRepo) -> Path:
    """The first request of one case of the agent's declared model, with a tool call."""
    for path in sorted((repo.path / FOLDER).glob("*.json")):
        doc = json.loads(path.read_text("utf-8"))
        first = doc["request"]["message_count"] == 2 and doc["request"]["model"] == "gpt-4.1-mini"
        if first and doc["response"]["message"].get("tool_calls"):
            return path
    raise AssertionError("the example fleet has no such cassette")


def _eval(
    repo: GitRepo, capsys: pytest.CaptureFixture[str], out: Path, *args: str
) -> tuple[int, str, str, list[dict[str, Any]]]:
    code = main(["-C", str(repo.path), "eval", "--agent", AGENT, "--out", str(out), *args])
    stdout, stderr = capsys.readouterr()
    assert "unexpected error" not in stderr and "Traceback" not in stderr
    cases = json.loads(out.read_text("utf-8"))["cases"]  # --out is written whatever happened
    assert len(cases) == TRIALS
    return code, stdout, stderr, [c for c in cases if c["status"] == "not_run"]


def _all_replay(repo: GitRepo, capsys: pytest.CaptureFixture[str], out: Path) -> None:
    code, _, _, not_run = _eval(repo, capsys, out, "--no-cache")
    assert not_run == [] and code == 0


def _refused(repo: GitRepo, capsys: pytest.CaptureFixture[str], out: Path) -> tuple[list[str], str]:
    """The eval exits 1; the reasons of the trials not run, and what it printed."""
    code, stdout, _, not_run = _eval(repo, capsys, out, "--no-cache")
    assert code == 1
    return [c["reason"] for c in not_run], stdout


def _mutated(change: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        doc = json.loads(raw)
        change(doc)
        return json.dumps(doc).encode()

    return apply


def _rewrite(repo: GitRepo, change: Callable[[dict[str, Any]], None]) -> Path:
    """Change the target cassette's JSON in place; the cassette."""
    target = _target(repo)
    target.write_bytes(_mutated(change)(target.read_bytes()))
    return target


def _link_folder_out(repo: GitRepo, outside: Path) -> None:
    """Move the cassettes folder out of the repository, link it back, and commit."""
    folder = repo.path / FOLDER
    shutil.copytree(folder, outside)
    shutil.rmtree(folder)
    folder.symlink_to(outside)
    repo.commit("attack: symlinked folder")


def _call(doc: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = doc["response"]["message"]["tool_calls"][0]
    return call


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return change


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        assert old in raw
        return raw.replace(old, new, 1)

    return apply


def _compact(raw: bytes) -> bytes:
    return json.dumps(json.loads(raw)).encode()


ARGS = "response.message.tool_calls.0.function.arguments"
Tamper = Callable[[bytes], bytes]


def _field(path: str, value: Any, expected: str) -> tuple[Tamper, str]:
    """Set one field of the cassette; the reason names the field, then what it expected."""
    return _mutated(_set(path, value)), f"{path}: {expected}"


def _raw(old: bytes, new: bytes) -> Tamper:
    """Edit the compact JSON text (for what json.dumps cannot write)."""
    return lambda raw: _compact(raw).replace(old, new, 1)


DEEP = "nested too deep; expected at most 64 levels"
ATTACKS: dict[str, tuple[Tamper, str]] = {
    "message-is-a-list": _field("response.message", [1], "expected an object"),
    "usage-is-a-string": _field("usage", "lots", "expected an object"),
    "tokens-as-string": _field("usage.input_tokens", "12", "expected an integer"),
    "tokens-as-bool": _field("usage.output_tokens", True, "expected an integer"),
    "tokens-as-float": _field("usage.output_tokens", 1.5, "expected an integer"),
    "negative-tokens": _field("usage.output_tokens", -5, "expected a number >= 0"),
    "tool-calls-not-a-list": _field("response.message.tool_calls", {"0": 1}, "expected an array"),
    "arguments-a-list": _field(ARGS, [1, 2], "expected a JSON string or an object"),
    "negative-latency": _field("latency_s", -1, "expected a number >= 0.0"),
    "unknown-field": _field("trusted", True, "unknown field"),
    "root-is-a-list": (lambda raw: b"[]", "(root): expected an object"),
    "nan-latency": (
        _raw(b'"latency_s": ', b'"latency_s": NaN, "x": '),
        "NaN is not JSON; expected a finite number",
    ),
    "infinite-latency": (
        _raw(b'"latency_s": ', b'"latency_s": 1e400, "x": '),
        "number 1e400 is out of range; expected a finite number",
    ),
    "huge-integer": (
        _raw(b'"input_tokens": ', b'"input_tokens": ' + b"9" * 5000 + b', "x": '),
        "an integer too long to read; expected at most 4300 digits",
    ),
    "deeply-nested": (lambda raw: b"[" * 100_000 + b"]" * 100_000, DEEP),
    "nested-provenance": (_mutated(_set("provenance.x", json.loads("[" * 70 + "]" * 70))), DEEP),
    "deeply-nested-arguments": (
        _mutated(_set(ARGS, "[" * 5000 + "]" * 5000)),
        f"tool call 'call_0' arguments: {DEEP}",
    ),
    "nan-in-arguments": (
        _mutated(_set(ARGS, '{"amount": NaN}')),
        "tool call 'call_0' arguments: NaN is not JSON; expected a finite number",
    ),
    "not-utf8": (_replace(b'"format"', b'"\xffformat"'), "2:4: not UTF-8; expected UTF-8 text"),
    "not-json": (lambda raw: b'{"format": ', "1:12: not JSON: Expecting value"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_invalid_cassette_is_a_not_run_trial_with_its_reason(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path, attack: str
) -> None:
    tamper, expected = ATTACKS[attack]
    target = _target(fleet_repo)
    target.write_bytes(tamper(target.read_bytes()))
    fleet_repo.commit(f"attack: {attack}")
    reasons, stdout = _refused(fleet_repo, capsys, tmp_path / "r.json")
    where = f"{FOLDER}/{target.name}"
    if expected[0].isdigit():  # a position inside the file: file:line:column
        where, expected = f"{where}:{expected.split(': ', 1)[0]}", expected.split(": ", 1)[1]
    reason = f"invalid cassette {where}: {expected}"
    assert reasons == [reason]
    assert reason in stdout


def test_untampered_cassettes_replay(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The baseline of the attacks above: every trial of the agent replays."""
    _all_replay(fleet_repo, capsys, tmp_path / "r.json")


def test_a_cassette_with_another_key_is_not_recorded(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = _rewrite(fleet_repo, _set("key", "0" * 64))
    reasons, stdout = _refused(fleet_repo, capsys, tmp_path / "r.json")
    assert reasons == [
        f"not recorded: cassette {FOLDER}/{target.name} is for another request: "
        "it records key 000000000000"
    ]
    assert reasons[0] in stdout


def test_a_response_moved_under_another_requests_name_is_not_recorded(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The attack that matters: reuse a passing answer for another request, fixing up the
    key so that it matches the file name. The recorded request gives it away."""
    target = _target(fleet_repo)
    donor = next(p for p in sorted(target.parent.glob("*.json")) if p != target)
    doc = json.loads(donor.read_text("utf-8"))
    doc["key"] = target.stem
    target.write_text(json.dumps(doc), "utf-8")
    (reason,), _ = _refused(fleet_repo, capsys, tmp_path / "r.json")
    assert reason.startswith(f"not recorded: cassette {FOLDER}/{target.name} is for another ")
    assert reason.split(": ")[-1] in {
        f"request.{field} differs"
        for field in ("model", "params", "tool_choice", "tools", "message_count", "last_message")
    }


def test_a_cassette_symlink_out_of_the_repository_is_refused(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = _target(fleet_repo)
    outside = tmp_path / "outside.json"
    shutil.copyfile(target, outside)  # a valid recording: only where it lives is wrong
    target.unlink()
    target.symlink_to(outside)
    fleet_repo.commit("attack: symlink out")
    reasons, _ = _refused(fleet_repo, capsys, tmp_path / "r.json")
    assert reasons == [
        f"invalid cassette {FOLDER}/{target.name}: "
        "a symlink out of the repository; expected a file in it"
    ]


def test_a_symlinked_cassettes_folder_out_of_the_repository_is_refused(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _link_folder_out(fleet_repo, tmp_path / "elsewhere")
    code, _, _, not_run = _eval(fleet_repo, capsys, tmp_path / "r.json", "--no-cache")
    assert code == 1 and len(not_run) == TRIALS
    assert all(
        c["reason"].endswith(": a symlink out of the repository; expected a file in it")
        for c in not_run
    )


def test_a_symlinked_folder_at_a_ref_is_refused_too(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--ref exports the tree at the ref: the link is refused there too, never followed."""
    _link_folder_out(fleet_repo, tmp_path / "elsewhere")
    out = tmp_path / "r.json"
    args = ["--agent", AGENT, "--no-cache", "--ref", "HEAD", "--out", str(out)]
    code = main(["-C", str(fleet_repo.path), "eval", *args])
    stdout, stderr = capsys.readouterr()
    assert code == 1 and "unexpected error" not in stderr
    assert FOLDER in stdout + stderr
    if out.exists():  # the export left the link out, or kept it and the store refused it
        cases = json.loads(out.read_text("utf-8"))["cases"]
        assert [c["status"] for c in cases] == ["not_run"] * TRIALS


def test_a_symlink_inside_the_repository_is_followed(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = _target(fleet_repo)
    kept = fleet_repo.path / "evals" / "shared" / target.name
    kept.parent.mkdir()
    shutil.move(target, kept)
    target.symlink_to(os.path.relpath(kept, target.parent))
    _all_replay(fleet_repo, capsys, tmp_path / "r.json")


def test_an_oversized_cassette_is_refused(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = _rewrite(fleet_repo, _set("provenance.padding", "x" * (3 * 1024 * 1024)))
    reasons, _ = _refused(fleet_repo, capsys, tmp_path / "r.json")
    assert reasons == [f"invalid cassette {FOLDER}/{target.name}: larger than 2 MiB"]


def test_a_fifo_in_place_of_a_cassette_does_not_hang(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = _target(fleet_repo)
    target.unlink()
    os.mkfifo(target)  # opening it for reading would wait for a writer forever
    reasons, _ = _refused(fleet_repo, capsys, tmp_path / "r.json")
    assert reasons == [
        f"invalid cassette {FOLDER}/{target.name}: not a regular file; expected a JSON file"
    ]
