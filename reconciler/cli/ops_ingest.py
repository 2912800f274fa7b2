"""`alm ops ingest FILE... [-]`: OTLP JSON trace files into the embedded store.

Bad spans are counted by kind and shown with an example each; they are input to report,
not an error (exit 0). A file that is missing or cannot be read is (exit 1, named)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.ops_options import DEFAULT_DB, db_path
from reconciler.cli.output import printable
from reconciler.errors import AlmError
from reconciler.ops.model import BAD_KINDS, BadSpan, Span
from reconciler.ops.otlp import TraceFileError, open_trace_file, read_lines
from reconciler.ops.sources import known_agents
from reconciler.ops.store import IngestReport, open_store
from reconciler.wording import noun

STDIN = "-"


def check_readable(files: Iterable[str]) -> None:
    """Every file can be opened, before anything is stored: a typo stops the run whole."""
    for name in files:
        if name == STDIN:
            continue
        path = Path(name)
        if not path.exists():
            raise AlmError(f"{name}: no such trace file")
        if path.is_dir():
            raise AlmError(f"{name}: a directory; expected a trace file")
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            raise AlmError(f"{name}: cannot read: {error.strerror or error}") from None


class LineCount:
    """Counts the lines read, file by file, as they stream through, and the files that
    could not be read to their end (a truncated or corrupt gzip/zstd stream): what came
    before the damage is kept, and the other files are still read."""

    def __init__(self) -> None:
        self.lines = 0
        self.unreadable: list[TraceFileError] = []

    def spans(self, files: Iterable[str]) -> Iterator[Span | BadSpan]:
        for name in files:
            where = "<stdin>" if name == STDIN else name
            try:
                yield from read_lines(self._counted(open_trace_file(name)), where)
            except TraceFileError as error:
                self.unreadable.append(error)

    def _counted(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        for line in lines:
            self.lines += 1
            yield line


def summary(report: IngestReport, files: int, lines: int, db: str) -> str:
    return (
        f"{files:,} {noun(files, 'file')}, {lines:,} {noun(lines, 'line')}, "
        f"{report.spans_read:,} {noun(report.spans_read, 'span')} read into {db}: "
        f"{report.added:,} {noun(report.added, 'span')} added, "
        f"{report.duplicates:,} already stored; "
        f"{report.traces:,} {noun(report.traces, 'trace')} assembled, "
        f"{report.tasks:,} {noun(report.tasks, 'task')}; "
        f"{report.bad_total:,} bad {noun(report.bad_total, 'span')}"
    )


def bad_table(report: IngestReport) -> list[str]:
    """kind, count, example (where: what), most frequent first."""
    if not report.bad:
        return []
    kinds = sorted(report.bad, key=lambda kind: (-report.bad[kind], kind))
    width = max(len(kind) for kind in [*kinds, "bad span"])
    rows = [f"{'bad span':<{width}}  {'count':>9}  example"]
    for kind in kinds:
        example = report.examples[kind]
        text = printable(f"{example.where}: {example.detail}")
        rows.append(f"{kind:<{width}}  {report.bad[kind]:>9,}  {text}")
    rows += [f"  {kind}: {BAD_KINDS[kind]}" for kind in kinds if kind in BAD_KINDS]
    return rows


@click.command("ingest")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"the embedded trace store (default: {DEFAULT_DB} in the repository)",
)
@pass_app
def ingest(app: App, files: tuple[str, ...], db: Path | None) -> None:
    """Store OTLP JSON trace files (JSON Lines as the Collector's file exporter writes them;
    gzip or zstd; - for stdin) and assemble their agent tasks. Re-ingesting a file adds
    nothing; spans of one trace may come in several files, in any order."""
    if list(files).count(STDIN) > 1:
        raise click.UsageError("- (stdin) can be read once")
    known = known_agents(app.root)
    check_readable(files)
    path = db_path(app.root, db)
    counter = LineCount()
    with open_store(path) as store:
        report = store.ingest(counter.spans(files), known)
    shown = str(db if db is not None else DEFAULT_DB)
    click.echo(summary(report, len(files), counter.lines, shown))
    for row in bad_table(report):
        click.echo(row)
    if counter.unreadable:  # what was read is stored, but the run did not read everything
        raise AlmError("\n".join(printable(str(e)) for e in counter.unreadable))
