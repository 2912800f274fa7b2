"""Read the whole desired state from a snapshot (working tree or git ref).

Loading never stops at the first bad file: every problem becomes a finding,
and what could be read is returned alongside.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pydantic import BaseModel

from reconciler.errors import Finding, Location, SpecError
from reconciler.gcpause import gc_paused
from reconciler.spec import places, source
from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Environments, Policy, Pricing, ToolCatalog
from reconciler.spec.parsecache import ParseStore
from reconciler.spec.paths import refused_paths
from reconciler.spec.state import AgentSpec, DesiredState, Loaded, PromptFile
from reconciler.spec.validation import parse
from reconciler.spec.yamlsafe import MAX_FILE_BYTES, Document, decode, load_documents

_AGENT_FILE, _POLICY_FILE, _SUITE_FILE = places.AGENT_FILE, places.POLICY_FILE, places.SUITE_FILE

Kinds = dict[str, type[BaseModel]]
_AGENT_KINDS: Kinds = {"Agent": Agent}
_POLICY_KINDS: Kinds = {
    "ToolCatalog": ToolCatalog,
    "Environments": Environments,
    "Policy": Policy,
    "Pricing": Pricing,
}


def _suite_kinds() -> Kinds:
    """Imported when the first suite is read: its schema checks (jsonschema) are for eval
    suites only, and alm apply, status and drift read none."""
    from reconciler.spec.evalsuite import EvalSuite

    return {"EvalSuite": EvalSuite}


KINDS_BY_PLACE: list[tuple[re.Pattern[str], Callable[[], Kinds]]] = [
    (_AGENT_FILE, lambda: _AGENT_KINDS),
    (_POLICY_FILE, lambda: _POLICY_KINDS),
    (_SUITE_FILE, _suite_kinds),
]


def load_worktree(root: Path, cache: ParseCache | None = None) -> DesiredState:
    return load_snapshot(source.from_worktree(root), cache)


def load_ref(root: Path, ref: str, cache: ParseCache | None = None) -> DesiredState:
    """The desired state at a git ref. Pass one cache to several calls (base and head of
    a pull request) and files that did not change are parsed once; a StoredParseCache
    also keeps parses on disk between runs (reconciler.spec.parsecache)."""
    return load_snapshot(source.from_git(root, ref), cache)


def load_snapshot(snapshot: source.Snapshot, cache: ParseCache | None = None) -> DesiredState:
    store = cache.store if isinstance(cache, StoredParseCache) else None
    state = DesiredState(snapshot.label)
    state.agent_folders = {m.group(1) for p in snapshot.files if (m := _AGENT_FILE.match(p))}
    state.eval_folders = {m.group(1) for p in snapshot.files if (m := _SUITE_FILE.match(p))}
    for top in source.TOP_FOLDERS:
        linked = snapshot.files.get(top)
        if linked is not None and linked.link is not None:  # not followed: it may lead outside
            state.findings.append(
                Finding("symlink", f"{top}/ is a symlink; expected a folder", Location(top))
            )
    state.findings.extend(_links_out(snapshot))
    refused = refused_paths(snapshot.files)  # names other tools would misread
    state.findings.extend(refused.values())
    with gc_paused():
        if store is not None:
            store.prefetch(places.spec_files(snapshot, refused, cache or ()))
        try:
            for path in sorted(snapshot.files):
                kinds = _kinds_for(path)
                if kinds is not None and path not in refused:
                    _load_file(state, snapshot, path, kinds, {} if cache is None else cache, store)
        finally:
            if store is not None:
                store.settle()
    return state


def _links_out(snapshot: source.Snapshot) -> list[Finding]:
    """Every symlink that leads out of the repository (absolute, through .., or in a loop),
    even where nothing reads it: never followed, and never silently carried by a change.
    Spec files and the top folders have findings of their own."""
    return [
        Finding(
            "symlink",
            "a symlink that leads out of the repository (or loops); expected a file or "
            "folder inside it (alm never follows it)",
            Location(path),
        )
        for path, blob in sorted(snapshot.files.items())
        if blob.link is not None
        and path not in source.TOP_FOLDERS
        and _place_of(path) is None
        and snapshot.resolve(path) is None
    ]


def _place_of(path: str) -> Callable[[], Kinds] | None:
    return next((kinds for pattern, kinds in KINDS_BY_PLACE if pattern.match(path)), None)


def _kinds_for(path: str) -> Kinds | None:
    place = _place_of(path)
    return None if place is None else place()


def _read(snapshot: source.Snapshot, path: str) -> bytes:
    blob = snapshot.files[path]
    if blob.link is not None:
        raise SpecError(
            Finding("symlink", "a spec file is a symlink; expected a regular file", Location(path))
        )
    if blob.data is None:
        raise SpecError(
            Finding(
                "file-too-large",
                f"file is {blob.size} bytes; expected at most {MAX_FILE_BYTES} bytes",
                Location(path),
            )
        )
    return blob.data


@dataclass(frozen=True)
class _ParsedFile:
    findings: list[Finding]
    documents: list[tuple[Document, BaseModel | None]]


# (path, content) -> what parsing it gave; shared between the refs of one comparison
ParseCache = dict[tuple[str, bytes], _ParsedFile]


class StoredParseCache(ParseCache):
    """A ParseCache that also looks in, and adds to, a parse store on disk."""

    def __init__(self, store: ParseStore) -> None:
        super().__init__()
        self.store = store


def _parse_file(
    path: str, raw: bytes, kinds: dict[str, type[BaseModel]], store: ParseStore | None = None
) -> _ParsedFile:
    try:
        documents = load_documents(path, raw) if store is None else store.documents(path, raw)
    except SpecError as err:
        return _ParsedFile(list(err.findings), [])
    findings: list[Finding] = []
    if "Agent" in kinds and len(documents) > 1:
        findings.append(
            Finding(
                "schema",
                "agent.yaml holds several documents; expected one Agent",
                documents[1].location(),
            )
        )
        documents = documents[:1]
    parsed: list[tuple[Document, BaseModel | None]] = []
    for doc in documents:
        model, problems = parse(doc, kinds)
        findings.extend(problems)
        parsed.append((doc, model))
    return _ParsedFile(findings, parsed)


def _load_file(
    state: DesiredState,
    snapshot: source.Snapshot,
    path: str,
    kinds: dict[str, type[BaseModel]],
    cache: ParseCache,
    store: ParseStore | None = None,
) -> None:
    try:
        raw = _read(snapshot, path)
    except SpecError as err:
        state.findings.extend(err.findings)
        return
    parsed = cache.get((path, raw))
    if parsed is None:
        parsed = cache[(path, raw)] = _parse_file(path, raw, kinds, store)
    state.findings.extend(parsed.findings)
    for doc, model in parsed.documents:
        if model is not None:
            _ADD[type(model).__name__](state, snapshot, doc, model)


def _add_agent(
    state: DesiredState, snapshot: source.Snapshot, doc: Document, model: BaseModel
) -> None:
    assert isinstance(model, Agent)
    loaded = Loaded(model, doc)
    folder = doc.file.split("/")[1]
    prompt = _read_prompt(state, snapshot, loaded, folder)
    state.agents.append(AgentSpec(loaded, folder, prompt))


def _read_prompt(
    state: DesiredState, snapshot: source.Snapshot, loaded: Loaded[Agent], folder: str
) -> PromptFile | None:
    declared = loaded.model.prompt.system
    where = partial(loaded.at, "prompt", "system")  # only a finding needs the place
    joined = posixpath.normpath(posixpath.join(f"agents/{folder}", declared))
    resolved = None if declared.startswith("/") else snapshot.resolve(joined)
    if resolved is None:
        state.findings.append(
            Finding(
                "path-escape",
                f"prompt path {declared!r} leaves the repository; expected a "
                f"file inside agents/{folder}/",
                where(),
            )
        )
        return None
    blob = snapshot.files.get(resolved)
    if blob is None:
        state.findings.append(
            Finding(
                "missing-file",
                f"prompt file {joined} does not exist; expected a file "
                f"relative to agents/{folder}/",
                where(),
            )
        )
        return None
    try:
        text = decode(resolved, _read(snapshot, resolved))
    except SpecError as err:
        state.findings.extend(err.findings)
        return None
    return PromptFile(resolved, text)


def _add_to(attribute: str) -> Callable[[DesiredState, source.Snapshot, Document, BaseModel], None]:
    def add(
        state: DesiredState, _snapshot: source.Snapshot, doc: Document, model: BaseModel
    ) -> None:
        getattr(state, attribute).append(Loaded(model, doc))

    return add


def _add_suite(
    state: DesiredState, _snapshot: source.Snapshot, doc: Document, model: BaseModel
) -> None:
    from reconciler.spec.evalsuite import EvalSuite  # imported already: a suite was read

    assert isinstance(model, EvalSuite)
    folder = doc.file.split("/")[1]
    state.suites.setdefault(folder, []).append(Loaded(model, doc))


# by kind (the model's class name), so that EvalSuite is imported only when read
_ADD: dict[str, Callable[[DesiredState, source.Snapshot, Document, BaseModel], None]] = {
    "Agent": _add_agent,
    "ToolCatalog": _add_to("catalogs"),
    "Environments": _add_to("environments"),
    "Policy": _add_to("policies"),
    "Pricing": _add_to("pricing"),
    "EvalSuite": _add_suite,
}
