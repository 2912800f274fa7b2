"""The `alm` command line. The one place that prints and decides exit codes."""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from reconciler import __version__
from reconciler.cli import actions, streams
from reconciler.cli.app import App
from reconciler.cli.commands import LazyGroup
from reconciler.errors import AlmError, ExitCode

ROOT_EPILOG = """\b
Examples:
  alm validate                          check the working tree
  alm plan --base origin/main           the pull request report
  alm apply --env staging --dry-run     what a deploy would do
  alm -C path/to/repo status --env prod
Run `alm COMMAND --help` for a command's options, examples and exit codes.

\b
Exit codes: 0 ok, 1 invalid input or a failed gate, 2 usage error, 3 drift or a
production breach, 4 unexpected error, 130 interrupted, 141 output closed early.
"""


class AlmGroup(LazyGroup):
    """alm itself: a write to a closed stdout, while parsing (--help, --version) or
    running, becomes streams.StdoutClosed, which click's own EPIPE handling (exit 1, as if
    the input were invalid) does not take."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with streams.stdout_guard():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with streams.stdout_guard():
            return super().invoke(ctx)


@click.group(
    cls=AlmGroup, epilog=ROOT_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="alm")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.option(
    "-C",
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    help="The alm repository (default: the current directory).",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, repo: Path) -> None:
    """alm: agent lifecycle management as code."""
    ctx.obj = App(repo=repo, verbose=verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """Run alm; under GitHub Actions, with repository text kept from being obeyed as a
    workflow command (reconciler.cli.actions), on errors too."""
    guarded = actions.install() if actions.under_actions() else None
    try:
        with streams.tolerant_stdout():
            return _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        if guarded is not None:
            actions.uninstall(guarded)


def _run(args: list[str]) -> int:
    verbose = verbose_requested(args)
    try:
        result = cli.main(args=args, prog_name="alm", standalone_mode=False)
        streams.flush_stdout()
    except (Exception, KeyboardInterrupt) as caught:
        err = caught.error if isinstance(caught, streams.Carried) else caught
        handle = next(h for kind, h in HANDLERS if isinstance(err, kind))
        return handle(err, verbose)
    return int(result or 0)


def verbose_requested(args: Sequence[str]) -> bool:
    """-v/--verbose among alm's own options (before the command), alone or in a cluster
    such as -vC DIR; a command's arguments are never read as it."""
    arguments = iter(args)
    for arg in arguments:
        if arg in ("-C", "--repo"):
            next(arguments, None)  # its value, whatever it looks like
        elif arg == "--verbose":
            return True
        elif arg == "--" or not arg.startswith("-"):
            return False  # the command: what follows is its own
        elif not arg.startswith("--") and "v" in arg[1:].partition("C")[0]:
            return True
    return False


def _usage(err: BaseException, _verbose: bool) -> int:
    assert isinstance(err, click.exceptions.ClickException)
    err.show()
    return ExitCode.USAGE if isinstance(err, click.exceptions.UsageError) else ExitCode.INVALID


def _closed(_err: BaseException, _verbose: bool) -> int:
    streams.silence_stdout()  # nothing left to say to a reader that has gone
    return streams.STDOUT_CLOSED


def _interrupted(_err: BaseException, _verbose: bool) -> int:
    click.echo("alm: interrupted", err=True)
    return 130


def _alm_error(err: BaseException, _verbose: bool) -> int:
    assert isinstance(err, AlmError)
    click.echo(f"alm: {err.message}", err=True)
    return err.exit_code


# the machine refused (a read-only tree, a full disk, no permission): alm's code did as
# it should, so the message says what was refused where, not "unexpected error"
_REFUSALS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def _unexpected(err: BaseException, verbose: bool) -> int:
    """The one place an unexpected error becomes exit 4."""
    if verbose:
        traceback.print_exception(err)
    elif isinstance(err, OSError) and err.errno in _REFUSALS and err.filename is not None:
        click.echo(f"alm: {err.strerror}: {err.filename} (run with -v for details)", err=True)
    else:
        first_line = next(iter(str(err).splitlines()), "")  # one line, whatever err says
        click.echo(
            f"alm: unexpected error: {type(err).__name__}: {first_line} (run with -v for details)",
            err=True,
        )
    return ExitCode.UNEXPECTED


# first match wins: a UsageError is a ClickException, every kind is an Exception
HANDLERS: list[tuple[tuple[type[BaseException], ...], Callable[[BaseException, bool], int]]] = [
    ((click.exceptions.ClickException,), _usage),
    ((streams.StdoutClosed,), _closed),
    ((click.exceptions.Abort, KeyboardInterrupt), _interrupted),
    ((AlmError,), _alm_error),
    ((Exception,), _unexpected),
]
