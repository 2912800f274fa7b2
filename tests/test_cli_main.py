"""Exit codes of `alm` (DESIGN.md): 0 ok, 1 invalid, 2 usage, 4 unexpected."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler import __version__
from reconciler.cli import main
from reconciler.errors import AlmError, ExitCode, UsageError
from tests.cli import run, run_process
from tests.gitrepo import GitRepo, init_repo


def test_exit_codes_are_the_documented_numbers() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4]


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "validate" in out and "schema" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert __version__ in out


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-option", "validate"],
        ["validate", "--no-such-option"],
        ["no-such-command"],
        ["validate", "--format", "yaml"],
        ["validate", "--format"],
        ["validate", "extra-argument"],
        [],
    ],
    ids=[
        "global option",
        "command option",
        "command",
        "bad format",
        "missing value",
        "argument",
        "nothing",
    ],
)
def test_usage_errors_exit_2(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, "-C", str(mini.path), *args)
    assert code == 2
    assert "Traceback" not in out + err
    assert "Error: " in err


def test_a_usage_error_raised_by_a_command_exits_2(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_root: Path, _cache: Any = None) -> Any:
        raise UsageError("--thing expects a number")

    monkeypatch.setattr("reconciler.spec.loader.load_worktree", refuse)
    code, out, err = run(capsys, "-C", str(mini.path), "validate")
    assert (code, out, err) == (2, "", "alm: --thing expects a number\n")


def test_an_alm_error_exits_with_its_code_and_one_line(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_root: Path, _cache: Any = None) -> Any:
        raise AlmError("the state cannot be read; expected something")

    monkeypatch.setattr("reconciler.spec.loader.load_worktree", refuse)
    code, out, err = run(capsys, "-C", str(mini.path), "validate")
    assert (code, out, err) == (1, "", "alm: the state cannot be read; expected something\n")


def _boom(_root: Path, _cache: Any = None) -> Any:
    raise RuntimeError("loader exploded\nwith a second line")


def test_unexpected_error_is_one_line_and_exit_4(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.spec.loader.load_worktree", _boom)
    code, out, err = run(capsys, "-C", str(mini.path), "validate")
    assert code == 4
    assert out == ""
    assert err == (
        "alm: unexpected error: RuntimeError: loader exploded (run with -v for details)\n"
    )


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_unexpected_error_with_verbose_prints_the_traceback(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setattr("reconciler.spec.loader.load_worktree", _boom)
    code, _, err = run(capsys, flag, "-C", str(mini.path), "validate")
    assert code == 4
    assert err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: loader exploded" in err
    assert "_boom" in err


def test_unexpected_error_in_a_cross_check_exits_4(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_state: Any) -> Any:
        raise KeyError("x")

    monkeypatch.setattr("reconciler.cli.spec_cmds.run_checks", broken)
    code, _, err = run(capsys, "-C", str(mini.path), "validate")
    assert code == 4
    assert err.startswith("alm: unexpected error: KeyError: ") and err.count("\n") == 1


def test_interrupt_exits_130(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_root: Path, _cache: Any = None) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("reconciler.spec.loader.load_worktree", interrupted)
    code, _, err = run(capsys, "-C", str(mini.path), "validate")
    assert (code, err.strip()) == (130, "alm: interrupted")


def test_repo_option_that_is_not_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "-C", str(tmp_path / "missing"), "validate")
    assert code == 2  # a usage error: the option's value is wrong
    assert out == ""
    assert "Invalid value for '-C' / '--repo'" in err and "does not exist" in err


def test_main_reads_sys_argv(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["alm", "-C", str(mini.path), "validate", "--format", "json"])
    assert main() == 0
    assert '"ok": true' in capsys.readouterr().out


def test_exit_codes_through_a_real_process(mini: GitRepo) -> None:
    assert run_process(mini.path, "validate").returncode == 0
    assert run_process(mini.path, "validate", "--format", "xml").returncode == 2
    mini.replace("agents/helper/agent.yaml", "  name: helper", "  name: helpr")
    done = run_process(mini.path, "validate", "--format", "github")
    assert done.returncode == 1
    assert done.stdout.startswith("::error file=agents/helper/agent.yaml,line=4,col=9,")


REPO_COMMANDS = [
    ["validate"],
    ["validate", "--ref", "HEAD"],
    ["schema"],
    ["schema", "--check"],
    ["diff", "--base", "HEAD"],
    ["policy", "check"],
    ["policy", "check", "--base", "HEAD", "--head", "HEAD"],
    ["codeowners", "--write"],
    ["eval"],
    ["eval", "--ref", "HEAD"],
]


@pytest.mark.parametrize("git", [False, True], ids=["plain folder", "git repository"])
@pytest.mark.parametrize("args", REPO_COMMANDS, ids=" ".join)
def test_outside_an_alm_repository_every_command_says_so_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], git: bool
) -> None:
    folder = tmp_path / "elsewhere"
    if git:
        init_repo(folder, with_fleet=False).commit("empty")
    else:
        folder.mkdir()
    before = sorted(folder.rglob("*"))
    code, out, err = run(capsys, "-C", str(folder), *args)
    assert code == 2
    assert out == ""
    assert err.startswith(f"alm: not an alm repository: no agents/ folder in {folder}")
    assert err.count("\n") == 1
    assert sorted(folder.rglob("*")) == before  # alm schema wrote nothing there


UNKNOWN_REF = [
    ["validate", "--ref", "nope"],
    ["diff", "--base", "nope"],
    ["diff", "--base", "HEAD", "--head", "nope"],
    ["policy", "check", "--base", "nope"],
    ["policy", "check", "--head", "nope"],
    ["policy", "check", "--base", "HEAD", "--head", "nope"],
    ["eval", "--ref", "nope"],
    ["eval", "--affected-since", "nope"],
]


@pytest.mark.parametrize("args", UNKNOWN_REF, ids=" ".join)
def test_an_unknown_ref_is_a_usage_error_everywhere(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, "-C", str(mini.path), *args)
    assert code == 2
    assert out == ""
    assert err == "alm: unknown git ref 'nope'; expected a branch, tag or commit\n"


def test_a_ref_that_exists_with_a_broken_spec_is_invalid_not_a_usage_error(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mini.replace("agents/helper/agent.yaml", "  name: helper", "  name: [helper")
    mini.commit("broken")
    code, out, _ = run(capsys, "-C", str(mini.path), "validate", "--ref", "HEAD")
    assert code == 1
    assert "agents/helper/agent.yaml:5:9: error: YAML syntax error" in out


def test_a_ref_outside_git_says_there_is_no_git_repository(
    mini: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(mini.path, plain, ignore=shutil.ignore_patterns(".git"))
    code, out, err = run(capsys, "-C", str(plain), "validate")
    assert code == 0, err  # the working tree needs no git
    code, out, err = run(capsys, "-C", str(plain), "validate", "--ref", "HEAD")
    assert code == 2 and out == ""
    assert err == f"alm: cannot read git ref 'HEAD': {plain} is not in a git repository\n"
