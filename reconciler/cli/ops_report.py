"""`alm ops report [--format md|html|json] [--out DIR|-] [window]`: the unit economics of
production (reconciler.ops.economics), with charts.

Written to DIR (default .alm/ops/report in the repository): report.md with the charts as
PNGs beside it (linked), or report.html with the charts embedded (the PNGs are written
too), or report.json (the economics as data, no charts). `--out -` prints the report
instead: markdown without charts, HTML with them embedded, or JSON. The charts are drawn
before the report is written, and each file atomically, so report.md never links a chart
that is not there. matplotlib is loaded here only, when charts are drawn.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.deploy_context import unknown_environment
from reconciler.cli.ops_options import source_options, window_of, window_options
from reconciler.cli.output import printable
from reconciler.fsutil import write_atomic
from reconciler.ops.economics import Economics, economics, plan_of, to_json
from reconciler.ops.rates import RatedPriceBook
from reconciler.spec.state import DesiredState
from reconciler.tracked import refuse_foreign
from reconciler.wording import plural

DEFAULT_OUT = Path(".alm") / "ops" / "report"
STDOUT = "-"
_ELSEWHERE = "or write it with --out DIR"


def _markdown(econ: Economics, charts: Mapping[str, Path]) -> str:
    from reconciler.ops import report_md

    return report_md.render(econ, {name: path.name for name, path in charts.items()})


def _html(econ: Economics, charts: Mapping[str, Path]) -> str:
    from reconciler.ops import report_html

    return report_html.render(econ, {name: path.read_bytes() for name, path in charts.items()})


def _json(econ: Economics, charts: Mapping[str, Path]) -> str:
    return json.dumps(to_json(econ), indent=2, sort_keys=True) + "\n"


# format -> (file name, renderer, whether it shows charts)
FORMATS: dict[str, tuple[str, Callable[[Economics, Mapping[str, Path]], str], bool]] = {
    "md": ("report.md", _markdown, True),
    "html": ("report.html", _html, True),
    "json": ("report.json", _json, False),
}


def _draw(econ: Economics, folder: Path) -> dict[str, Path]:
    from reconciler.ops.charts import draw_all

    return draw_all(econ, folder)


def write_report(econ: Economics, fmt: str, out: Path) -> tuple[Path, dict[str, Path]]:
    """The report and its charts in `out`: the charts first, the report last."""
    name, render, with_charts = FORMATS[fmt]
    charts = _draw(econ, out) if with_charts else {}
    path = out / name
    write_atomic(path, render(econ, charts))
    return path, charts


def default_out(root: Path, fmt: str) -> Path:
    """.alm/ops/report in the repository; LinkedOut when a symlink out of it is on the
    way, Committed when git tracks a file under it (a pull request's file, never
    overwritten). --out DIR, the user's own choice, is not checked."""
    folder = root / DEFAULT_OUT
    refuse_foreign(
        root, folder, folder / FORMATS[fmt][0], what="the ops report", alternative=_ELSEWHERE
    )
    return folder


def chosen_out(out: str) -> Path:
    """--out DIR: a folder, or none yet (made when written); a file on the way is a usage
    error naming it, not an unexpected FileExistsError or NotADirectoryError (exit 4)."""
    folder = Path(out)
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            what = "a file" if path == folder else f"{path} is a file"
            raise click.UsageError(f"--out {out}: {what}; expected a folder, or - to print")
    return folder


def known_environment(state: DesiredState, name: str | None) -> None:
    """--env names an environment policies/ declares (a typo would read no task and write
    an empty report, exit 0), when policies/ declares any."""
    envs = state.environments[0].model.environments if state.environments else []
    if name is not None and envs and all(env.name != name for env in envs):
        raise unknown_environment(envs, name)


def print_report(econ: Economics, fmt: str) -> str:
    """The report as text for stdout: HTML embeds its charts (drawn in a scratch folder),
    markdown has none (nothing to link to)."""
    _, render, _ = FORMATS[fmt]
    if fmt != "html":
        return render(econ, {})
    with tempfile.TemporaryDirectory(prefix="alm-report-") as scratch:
        return render(econ, _draw(econ, Path(scratch)))


def _headline(econ: Economics) -> list[str]:
    from reconciler.ops import report_common

    if not econ.total.tasks:
        return [report_common.no_tasks(econ)]
    return report_common.headline(econ)


@click.command("report")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="md",
    show_default=True,
    help="markdown with PNG charts, self-contained HTML, or JSON",
)
@click.option(
    "--out",
    metavar="DIR",
    help=f"the folder to write the report and its charts in (default {DEFAULT_OUT} in the "
    "repository); - prints the report instead",
)
@click.option("--env", "environment", help="only the tasks of this environment (default: all)")
@source_options
@window_options
@pass_app
def report(
    app: App,
    fmt: str,
    out: str | None,
    environment: str | None,
    db: Path | None,
    source: str | None,
    since: str | None,
    until: str | None,
    hours: float | None,
) -> int:
    """Unit economics of production: cost per task, run-rate against budget, trends and
    cost drivers, with charts."""
    from reconciler.ops.sources import open_source

    window = window_of(since, until, hours)
    state = app.load()
    known_environment(state, environment)
    plans = {spec.name: plan_of(spec.agent) for spec in state.agents}
    prices = RatedPriceBook(p for doc in state.pricing for p in doc.model.models)
    tasks = open_source(app.root, db, source)
    folder = None if out == STDOUT else chosen_out(out) if out else default_out(app.root, fmt)
    econ = economics(tasks.tasks(window, environment), plans, prices, window, tasks.label)
    if folder is None:
        click.echo(printable(print_report(econ, fmt)), nl=False)  # trace text: no escapes
        return 0
    path, charts = write_report(econ, fmt, folder)
    click.echo(printable(f"wrote {path} ({plural(len(charts), 'chart')})"))
    for line in _headline(econ):
        click.echo(printable(line))
    return 0
