"""alm validate, alm schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from reconciler.cli.app import App, pass_app
from reconciler.cli.output import FORMATS, render
from reconciler.errors import ExitCode, Finding
from reconciler.fsutil import refuse_link_out, write_atomic
from reconciler.wording import plural

if TYPE_CHECKING:  # the models are imported in the commands, after a cold start forks
    from reconciler.spec.state import DesiredState


def run_checks(state: DesiredState) -> list[Finding]:
    from reconciler.spec.checks import validate as checked

    return checked(state)


def _summary(state: DesiredState, errors: int, warnings: int) -> str:
    counts = ", ".join(
        [
            plural(len(state.agents), "agent"),
            plural(len(state.tools), "tool"),
            plural(len(state.environment_order), "environment"),
            plural(sum(len(s) for s in state.suites.values()), "eval suite"),
        ]
    )
    verdict = "valid" if errors == 0 else "invalid"
    found = f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"
    return f"{state.label}: {verdict}: {counts}; {found}"


@click.command()
@click.option("--ref", help="Validate a git ref instead of the working tree.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@pass_app
def validate(app: App, ref: str | None, fmt: str) -> int:
    """Load and check the whole desired state."""
    from reconciler.spec.parsecache import ParseStore

    store = ParseStore.open(app.root)  # parses of unchanged files, from the last run
    if store is not None:
        if ref is None:  # a cold start: a child parses while the models import
            store.prefetch_tree(app.root)
        from reconciler.spec.loader import StoredParseCache

        app.parse_cache = StoredParseCache(store)
    try:
        state = app.load(ref)
    finally:
        if store is not None:
            store.settle()
    if store is not None:
        store.save()
    findings = run_checks(state)
    errors = sum(f.severity == "error" for f in findings)
    click.echo(render(findings, _summary(state, errors, len(findings) - errors), fmt))
    return ExitCode.INVALID if errors else ExitCode.OK


_LINK_REMEDY = "remove the link; `alm schema` writes the schemas as files"


@click.command()
@click.option("--check", is_flag=True, help="Fail when the committed schemas are out of date.")
@pass_app
def schema(app: App, check: bool) -> int:
    """Write the JSON Schemas of every document kind under schemas/."""
    from reconciler.spec.schema import SCHEMA_FOLDER, schema_files

    folder = app.root / SCHEMA_FOLDER
    files = schema_files()
    # a committed schemas/ link out (to /dev/zero, a home folder) is neither read nor written
    refuse_link_out(app.root, *(folder / name for name in files), remedy=_LINK_REMEDY)
    stale = []
    for name, text in files.items():
        path = folder / name
        current = path.read_text("utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path.relative_to(app.root).as_posix())
        if not check:
            write_atomic(path, text)
    if check and stale:
        click.echo(f"out of date: {', '.join(stale)}; run `alm schema` and commit", err=True)
        return ExitCode.INVALID
    verb = "would write" if check else "wrote"
    click.echo(
        f"{verb} {plural(len(stale), 'schema file')} in {SCHEMA_FOLDER}/"
        if stale
        else "schemas are current"
    )
    return ExitCode.OK
