"""Which files of the desired state are spec files: agents, policies, eval suites.

Kept apart from the loader (which imports every model) so that the files to parse are
known before the models are imported: a cold `alm validate` starts parsing them in a
second process first (parsecache.ParseStore.prefetch).
"""

from __future__ import annotations

import re
from collections.abc import Container

from reconciler.spec.paths import refused_paths
from reconciler.spec.source import Snapshot

AGENT_FILE = re.compile(r"^agents/([^/]+)/agent\.ya?ml$")
POLICY_FILE = re.compile(r"^policies/[^/]+\.ya?ml$")
SUITE_FILE = re.compile(r"^evals/([^/]+)/[^/]+\.ya?ml$")
PLACES = (AGENT_FILE, POLICY_FILE, SUITE_FILE)


def is_spec_file(path: str) -> bool:
    return any(place.match(path) for place in PLACES)


def spec_files(
    snapshot: Snapshot,
    refused: Container[str] | None = None,
    skip: Container[tuple[str, bytes]] = (),
) -> list[tuple[str, bytes]]:
    """The spec files the loader will parse, in its order, with their bytes (not links, not
    files over the size limit, not refused names; not those in `skip`)."""
    refused = refused_paths(snapshot.files) if refused is None else refused
    return [
        (path, blob.data)
        for path, blob in sorted(snapshot.files.items())
        if blob.data is not None
        and blob.link is None
        and path not in refused
        and is_spec_file(path)
        and (path, blob.data) not in skip
    ]
