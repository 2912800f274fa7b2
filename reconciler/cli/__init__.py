"""The `alm` command line. The one place that prints and decides exit codes."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from reconciler import __version__
from reconciler.cli import actions
from reconciler.cli.app import App
from reconciler.cli.commands import LazyGroup
from reconciler.errors import AlmError, ExitCode


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
        return _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        if guarded is not None:
            actions.uninstall(guarded)


def _run(args: list[str]) -> int:
    verbose = "-v" in args or "--verbose" in args
    try:
        result = cli.main(args=args, prog_name="alm", standalone_mode=False)
    except click.exceptions.UsageError as err:
        err.show()
        return ExitCode.USAGE
    except click.exceptions.ClickException as err:
        err.show()
        return ExitCode.INVALID
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("alm: interrupted", err=True)
        return 130
    except AlmError as err:
        click.echo(f"alm: {err.message}", err=True)
        return err.exit_code
    except Exception as err:  # the one place an unexpected error becomes exit 4
        if verbose:
            traceback.print_exc()
        else:
            first_line = next(iter(str(err).splitlines()), "")  # one line, whatever err says
            click.echo(
                f"alm: unexpected error: {type(err).__name__}: {first_line} "
                "(run with -v for details)",
                err=True,
            )
        return ExitCode.UNEXPECTED
    return int(result or 0)
