"""The Actions output guard: defusing lines, and the filter that wraps alm's streams."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import actions, main
from reconciler.errors import AlmError
from tests.actions_runner import Runner
from tests.gitrepo import GitRepo


@pytest.mark.parametrize(
    "line",
    [
        "::add-mask::secret",
        "   ::error::x",
        "\t::set-output name=a::b",
        "\u200b::add-mask::zero-width first",  # a culture-aware StartsWith may skip it
        "\u00a0\u3000::debug::unicode spaces",
        "text ##[add-mask]anywhere in the line",
        "#\u200b#[set-output name=a;]b",
        "::STOP-COMMANDS::upper case",
    ],
)
def test_a_command_looking_line_is_defused(line: str) -> None:
    defused = actions.defuse(line)
    plain = Runner().read(line)
    if "\u200b" not in line:  # (only a culture-aware comparison would skip the ZWSP)
        assert plain.obeyed or plain.tokens
    assert Runner().read(defused).obeyed == [] and Runner().read(defused).tokens == []


@pytest.mark.parametrize("line", ["plain text", "a::b::c", "#1 [x]", "path/to:3:1: error"])
def test_other_lines_are_unchanged(line: str) -> None:
    assert actions.defuse(line) == line


def test_json_keeps_its_value() -> None:
    text = json.dumps({"m": "x ##[add-mask]y"})
    defused = actions.defuse(text, json=True)
    assert "##[" not in defused and json.loads(defused) == {"m": "x ##[add-mask]y"}


def _filtered(*writes: str, machine: bool = False) -> str:
    target = io.StringIO()
    guard = actions.Guard(machine=machine)
    out = actions._Filter(target, guard, stops=True)
    for text in writes:
        out.write(text)
    out.finish()
    return target.getvalue()


def test_a_command_split_over_writes_is_still_defused() -> None:
    text = _filtered("  ", ":", ":add-mask::x\r", "##", "[set-output name=a;]b")
    runner = Runner().read(text)
    assert runner.obeyed == [] and runner.stop_token is None and len(runner.tokens) == 1


def test_machine_output_gets_no_marker_lines() -> None:
    assert _filtered('{"a": 1}\n', machine=True) == '{"a": 1}\n'


def test_marked_commands_run_in_a_resumed_window(monkeypatch: pytest.MonkeyPatch) -> None:
    target = io.StringIO()
    guard = actions.Guard()
    monkeypatch.setattr(actions, "_active", guard)
    out = actions._Filter(target, guard, stops=True)
    out.write("before\n" + actions.command("::error file=a,title=alm x::ours") + "\nafter\n")
    out.finish()
    runner = Runner().read(target.getvalue())
    assert [(c.name, c.data) for c in runner.obeyed] == [("error", "ours")]
    assert len(runner.tokens) == 2 and runner.stop_token is None


def test_a_forged_mark_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Repository text cannot know the run's mark: a guessed one is just text."""
    target = io.StringIO()
    guard = actions.Guard()
    out = actions._Filter(target, guard, stops=True)
    out.write(actions.Guard().mark + "::add-mask::x\n")
    out.finish()
    assert Runner().read(target.getvalue()).obeyed == []


def _under_actions_loading_raises(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Under Actions, with loading the worktree raising `error` (the only way to reach the
    CLI's error paths with this exact text)."""

    def load(_root: Path, _cache: Any = None) -> Any:
        raise error

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setattr("reconciler.spec.loader.load_worktree", load)


def test_main_restores_the_streams_and_resumes_after_an_unexpected_error(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _under_actions_loading_raises(monkeypatch, RuntimeError("::add-mask::from an exception"))
    before = sys.stdout, sys.stderr
    assert main(["-C", str(mini.path), "validate"]) == 4
    assert (sys.stdout, sys.stderr) == before and actions._active is None
    captured = capsys.readouterr()
    assert "add-mask::from an exception" in captured.err
    assert Runner().read(captured.err).obeyed == []


def test_an_alm_error_under_actions_is_defused(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _under_actions_loading_raises(monkeypatch, AlmError("bad\n::add-mask::x"))
    assert main(["-C", str(mini.path), "validate"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "alm: bad\n\\::add-mask::x\n"
