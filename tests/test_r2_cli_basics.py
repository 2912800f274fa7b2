"""What a new user meets first: help that shows examples and exit codes, "did you mean" for
a mistyped command, -v wherever it stands among alm's options, a reader that closes the
pipe early, a locale that cannot encode the repository's text, a read-only tree."""

from __future__ import annotations

import errno
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest

from reconciler.cli import cli, verbose_requested
from reconciler.cli.commands import with_help
from reconciler.cli.epilogs import EPILOGS
from tests.cli import PYTHON_M_ALM, run, run_process
from tests.gitrepo import GitRepo


def _paths(ctx: click.Context) -> list[str]:
    """The command paths under ctx's command, loaded as alm loads them; a group that runs
    by itself (alm eval) is one too."""
    command = ctx.command
    path = ctx.command_path.removeprefix("alm").strip()
    if not isinstance(command, click.Group):
        return [path]
    itself = [path] if command.invoke_without_command else []
    subs = [(n, command.get_command(ctx, n)) for n in command.list_commands(ctx)]
    return itself + [
        p for n, sub in subs if sub is not None for p in _paths(click.Context(sub, ctx, n))
    ]


ALL_COMMANDS = sorted(_paths(click.Context(cli, info_name="alm")))


@pytest.mark.parametrize("path", ALL_COMMANDS)
def test_every_command_help_shows_examples_and_exit_codes(
    capsys: pytest.CaptureFixture[str], path: str
) -> None:
    code, out, err = run(capsys, *path.split(), "--help")
    assert (code, err) == (0, "")
    assert "Examples:\n    " in out
    flowing = " ".join(out.split())  # as click wrapped it
    assert "Exit codes: 0 " in flowing and "2 usage error, 4 unexpected error." in flowing


def test_every_epilog_names_a_command_that_exists() -> None:
    assert sorted(EPILOGS) == ALL_COMMANDS


def _example_args(example: str) -> list[str]:
    """The alm arguments of an example line: after any VAR=value and `... |`."""
    words = shlex.split(example.split("|")[-1])
    return words[words.index("alm") + 1 :]


EXAMPLES = [
    (path, line.strip())
    for path, text in EPILOGS.items()
    for line in text.splitlines()
    if "alm " in line and not line.startswith("Exit")
]


@pytest.mark.parametrize(("path", "example"), EXAMPLES, ids=[e for _, e in EXAMPLES])
def test_every_example_parses_as_its_command(
    capsys: pytest.CaptureFixture[str], path: str, example: str
) -> None:
    """Every option an example uses exists (click parses every option before --help
    answers), and the example runs the command it documents."""
    args = _example_args(example)
    code, out, err = run(capsys, *args, "--help")
    assert (code, err) == (0, ""), example
    assert out.startswith(f"Usage: alm {path} ")


def test_the_root_help_says_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "Exit codes: 0 ok, 1 invalid input or a failed gate, 2 usage error" in out
    assert "alm validate" in out.split("Examples:")[1]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["valdate"], "No such command 'valdate'. Did you mean 'validate'?"),
        (["ops", "chek"], "No such command 'chek'. Did you mean 'check'?"),
        (["audit", "verfy"], "No such command 'verfy'. Did you mean 'verify'?"),
        (["policy", "chekc"], "No such command 'chekc'. Did you mean 'check'?"),
        (["polcy"], "No such command 'polcy'. (Did you mean one of: 'policy', 'apply'?)"),
    ],
    ids=["root", "ops group", "audit group", "policy group", "two near names"],
)
def test_a_mistyped_command_suggests_the_near_ones(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = run(capsys, "-C", str(mini.path), *args)
    assert (code, out) == (2, "")
    assert err.endswith(f"Error: {said}\n")


def test_a_command_near_nothing_gets_no_suggestion(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "-C", str(mini.path), "xyzzy")
    assert code == 2
    assert err.endswith("Error: No such command 'xyzzy'.\n")


def test_with_help_keeps_a_commands_own_epilog() -> None:
    command = click.Command("validate", epilog="mine")
    assert with_help(command, "validate").epilog == "mine"


@pytest.mark.parametrize(
    ("args", "verbose"),
    [
        (["-v", "validate"], True),
        (["--verbose", "-C", "x", "validate"], True),
        (["-vC", "x", "validate"], True),
        (["-Cx", "-v", "validate"], True),
        (["-C", "-v", "validate"], False),  # a folder named -v
        (["-Cv", "validate"], False),  # -C's value is "v"
        (["eval", "--case", "-v"], False),  # the command's own argument
        (["validate", "-v"], False),
        (["--", "-v"], False),
    ],
)
def test_verbose_is_read_from_alms_own_options_only(args: list[str], verbose: bool) -> None:
    assert verbose_requested(args) is verbose


def _boom(_root: Path, _cache: Any = None) -> Any:
    raise RuntimeError("loader exploded")


def test_a_clustered_v_shows_the_traceback(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.spec.loader.load_worktree", _boom)
    code, _, err = run(capsys, "-vC", str(mini.path), "validate")
    assert code == 4
    assert err.startswith("Traceback (most recent call last):")


def test_a_refusal_of_the_machine_names_what_and_where(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(_root: Path, _cache: Any = None) -> Any:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), "/repo/.alm")

    monkeypatch.setattr("reconciler.spec.loader.load_worktree", read_only)
    code, out, err = run(capsys, "-C", str(mini.path), "validate")
    assert (code, out) == (4, "")
    assert err == "alm: Read-only file system: /repo/.alm (run with -v for details)\n"


def test_a_broken_pipe_that_is_not_stdout_stays_unexpected(
    mini: GitRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry or an agent closing its socket is not the reader of alm's output going."""

    def socket_closed(_root: Path, _cache: Any = None) -> Any:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr("reconciler.spec.loader.load_worktree", socket_closed)
    code, _, err = run(capsys, "-C", str(mini.path), "validate")
    assert code == 4
    assert err.startswith("alm: unexpected error: BrokenPipeError:")


def _with_stdout_closed(repo: Path, *args: str) -> tuple[int, str]:
    """alm run with its stdout a pipe whose reader has already gone (`| head -0`)."""
    process = subprocess.Popen(
        [*PYTHON_M_ALM, "-C", str(repo), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before alm writes: every write of it meets EPIPE
    try:
        err = process.stderr.read()
        return process.wait(timeout=120), err
    finally:
        process.kill()
        process.stderr.close()


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["validate"], ["validate", "--format", "json"], ["eval"]],
    ids=" ".join,
)
def test_a_reader_that_goes_early_ends_alm_quietly_with_141(mini: GitRepo, args: list[str]) -> None:
    """141 (128 + SIGPIPE) as a shell shows it, not 1 ("invalid") and no traceback;
    `alm eval` prints through rich, which has its own broken-pipe exit."""
    code, err = _with_stdout_closed(mini.path, *args)
    assert code == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert "BrokenPipe" not in err


def test_a_locale_that_cannot_encode_the_text_escapes_it(mini: GitRepo) -> None:
    """LANG=en_US.ISO-8859-1: the arrow and the CJK text are shown as \\u escapes; the
    command does its work and exits 0 (it exited 4 with a UnicodeEncodeError)."""
    mini.replace(
        "agents/helper/agent.yaml",
        "purpose: Help customers with their tickets.",
        "purpose: Help customers with their tickets, en français → 日本語.",
    )
    env = {**os.environ, "PYTHONIOENCODING": "latin-1", "PYTHONUTF8": "0", "LC_ALL": "C"}
    done = run_process(mini.path, "diff", "--base", "HEAD", env=env, text=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode("latin-1")
    assert "\\u2192" in out  # →
    assert "\\u65e5\\u672c\\u8a9e" in out  # 日本語
    assert "français" in out  # what latin-1 can show, it shows
