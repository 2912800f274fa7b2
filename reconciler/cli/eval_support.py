"""What `alm eval` and `alm plan` share when they run evals: the result cache's place,
the files a run reads at a ref, the progress bar, the line counting the trials, and the
files they write (--out, --json, --html)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from reconciler.cli.app import App
from reconciler.errors import UsageError
from reconciler.evals.inputs import code_paths
from reconciler.evals.providers import Mode
from reconciler.evals.run import EvalRun, RunProgress
from reconciler.fsutil import write_atomic
from reconciler.spec import source
from reconciler.spec.state import DesiredState
from reconciler.wording import plural

CACHE_FILE = Path(".alm") / "cache" / "evals.sqlite"
REDRAW_S = 0.1


@contextmanager
def progress_bar(label: str = "eval") -> Iterator[RunProgress]:
    """Redrawn from the caller's updates, at most 10 times a second: no refresh thread,
    so trials can be forked into workers (a fork beside a thread can hang the child)."""
    console = Console(stderr=True)
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(
        *columns, console=console, disable=not console.is_terminal, auto_refresh=False
    ) as bar:
        task = bar.add_task(label, total=None)
        last = 0.0

        def advance(done: int, total: int) -> None:
            nonlocal last
            now = time.monotonic()
            redraw = done == total or now - last >= REDRAW_S
            bar.update(task, completed=done, total=total, refresh=redraw)
            if redraw:
                last = now

        yield advance


def trial_counts(planned: int, run: EvalRun) -> str:
    """What happened to the planned trials; those that could not run are named as such,
    so "0 model calls" never reads as a clean run."""
    return (
        f"{plural(planned, 'trial')}: {run.ran} run, {run.cached} from the cache, "
        f"{run.not_run} not run; {plural(run.model_calls, 'model call')}"
    )


def code_folders(state: DesiredState, agents: Sequence[str]) -> tuple[str, ...]:
    """Where the command agents among `agents` keep their code (their folder, and folders
    their command names elsewhere in the repository): exported with them at a ref."""
    found = {path for s in state.agents if s.name in agents for path in code_paths(s.agent)}
    return tuple(sorted(found))


@contextmanager
def files_at(
    app: App, ref: str | None, mode: Mode, folders: tuple[str, ...] = ("agents", "evals")
) -> Iterator[Path]:
    """Where cassettes and command agents are read: the working tree, or the ref itself
    (only `folders` of it: a plan exports just the agents it evaluates)."""
    if ref is None:
        yield app.root
        return
    if mode == "record":
        raise click.BadParameter("record into the working tree, not a git ref", param_hint="--ref")
    with tempfile.TemporaryDirectory(prefix="alm-ref-") as tmp:
        source.export_tree(app.root, ref, folders, Path(tmp))
        yield Path(tmp)


class OutFile(click.Path):
    """A file alm writes: a path, never empty (that would name the current folder)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, path_type=Path)

    def convert(
        self, value: str | PathLike[str], param: click.Parameter | None, ctx: click.Context | None
    ) -> str | bytes | PathLike[str]:
        if value == "":
            self.fail("expected the path of a file to write; got an empty one", param, ctx)
        return super().convert(value, param, ctx)


def write_out(path: Path, text: str, option: str) -> None:
    """Write an output file atomically; a path that cannot be written (a missing or
    read-only folder, a device) is the caller's usage error, named with its option."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"{option} {path}: cannot write it ({reason}); expected a file in a writable folder"
        ) from None
