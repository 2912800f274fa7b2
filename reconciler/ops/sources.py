"""Where `alm ops` reads tasks: the embedded store (default, or --db, or --source
sqlite:PATH) or a scale-out source named by --source URL, one registry entry per scheme.
A source's module is imported only when used (ClickHouse's client is an optional extra)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.errors import AlmError, UsageError
from reconciler.fsutil import SQLITE_SIDES
from reconciler.ops.model import TaskSource
from reconciler.tracked import refuse_foreign

DEFAULT_STORE = Path(".alm") / "ops" / "traces.db"
_NAME_ONE = "or name a store with --db PATH"
INSTALL = "pip install 'alm[clickhouse]'"

Opener = Callable[[Path, str], TaskSource]


def known_agents(root: Path) -> frozenset[str]:
    """The agents of the working tree: folders of agents/ holding an agent.yaml (the folder
    is the agent's name, as validate requires; no spec is parsed)."""
    return frozenset(p.parent.name for p in (root / "agents").glob("*/agent.yaml") if p.is_file())


def default_store(root: Path) -> Path:
    """The repository's store, .alm/ops/traces.db; LinkedOut when a symlink out of the
    repository is on its way (.alm, .alm/ops, the database or its side files), Committed
    when git tracks one of those files (traces a pull request wrote: a check would act on
    them). A path the user names (--db, --source sqlite:PATH) is the user's choice and is
    not checked."""
    path = root / DEFAULT_STORE
    files = [path, *(path.with_name(path.name + side) for side in SQLITE_SIDES)]
    refuse_foreign(root, *files, what="the trace store", alternative=_NAME_ONE)
    return path


def _sqlite(root: Path, url: str) -> TaskSource:
    from reconciler.ops.store import open_store

    rest = url.split(":", 1)[1] if ":" in url else ""
    path = rest[2:] if rest.startswith("//") else rest  # sqlite:///abs, sqlite:rel
    store = Path(path) if path else default_store(root)
    if not store.exists():  # a typo in --db, or nothing ingested: never an empty "ok"
        raise AlmError(
            f"{store}: no trace store there; expected one `alm ops ingest` wrote (ingest "
            "traces first, or name the store with --db PATH or --source URL)"
        )
    return open_store(store)


def _clickhouse(root: Path, url: str) -> TaskSource:
    try:
        module = importlib.import_module("reconciler.ops.clickhouse")
    except ImportError as error:
        raise AlmError(
            f"--source {redact(url)}: ClickHouse is not available ({error.name}); "
            f"install the extra: {INSTALL}"
        ) from None
    opened: TaskSource = module.open_clickhouse(url, known_agents(root))
    return opened


SCHEMES: dict[str, Opener] = {"sqlite": _sqlite, "clickhouse": _clickhouse}


def open_source(root: Path, db: Path | None, source: str | None) -> TaskSource:
    """The TaskSource of --db / --source; the repository's store when neither is given."""
    if source is None:
        return _sqlite(root, f"sqlite:{db}" if db is not None else "sqlite:")
    if db is not None:
        raise UsageError("--db and --source both say where the traces are; expected one")
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    opener = SCHEMES.get(scheme)
    if opener is None:
        known = ", ".join(f"{name}://" for name in SCHEMES)
        raise UsageError(
            f"--source {redact(source)}: unknown kind of source; expected one of "
            f"{known} (or --db PATH for the embedded store)"
        )
    return opener(root, source)


def redact(url: str) -> str:
    """The URL as it may be printed: a password in it replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("://", 1)[0] + "://..." if "://" in url else url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
