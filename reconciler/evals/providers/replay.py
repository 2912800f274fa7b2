"""Cassettes: recorded model responses, so CI runs offline, repeatably and without a key.

A cassette is ``evals/<agent>/cassettes/<key>.json`` where ``key`` is ``ChatRequest.key()``:
the hash of model, messages, tools, tool_choice and parameters. It holds a summary of the
request, the response, the token usage, the recorded latency and its provenance: which
provider and model produced it, when, with which alm version and in which mode. The
endpoint's host is withheld (only "default" or "custom" is kept). A recorder may add its
own fields to the provenance (``extra_provenance``, e.g. "this was not the named model");
they never replace the fields above.

Cassettes come from the repository, so from any pull request: ``providers.cassette``
reads them as hostile data. A cassette is replayed only when it is a valid recording of
exactly the request made (its key and its request summary); otherwise the trial does not
run, with the reason.

Modes:
- ``replay`` (the default): answer from cassettes only; a missing one raises NotRecorded.
- ``record``: call the live provider and write (or overwrite) the cassette atomically.
- ``live``: call the live provider only (built in ``providers``, not here).
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from reconciler import __version__
from reconciler.evals.providers.cassette import (
    CASSETTE_FORMAT,
    CassetteMismatch,
    InvalidCassette,
    parse,
    read_bytes,
    request_summary,
    response_of,
    verify,
)
from reconciler.evals.types import ChatRequest, ChatResponse, NotRecorded, Provider, ProviderError
from reconciler.fsutil import write_atomic

Mode = Literal["replay", "record", "live"]
MODES: tuple[Mode, ...] = ("replay", "record", "live")
SUFFIX = ".json"  # a cassette is <request key>.json

__all__ = [
    "CASSETTE_FORMAT",
    "MODES",
    "CassetteMismatch",
    "CassetteStore",
    "InvalidCassette",
    "Mode",
    "ReplayProvider",
    "request_summary",
]


def _root_of(folder: Path) -> Path:
    """The repository of ``<root>/evals/<agent>/cassettes``; any other folder is its own root."""
    if folder.name == "cassettes" and folder.parent.parent.name == "evals":
        return folder.parent.parent.parent
    return folder


class CassetteStore:
    """One folder of cassettes, one JSON file per request key, inside the repository root
    (by default the one the folder sits in by the repository layout)."""

    def __init__(self, folder: Path, root: Path | None = None) -> None:
        self.folder = folder
        self.root = _root_of(folder) if root is None else root
        self._real_root: Path | None = None  # resolved once: each load checks against it

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def holds_any(self) -> bool:
        """Whether the folder holds anything named like a cassette. With nothing, every
        replay from it misses (``load`` finds no ``path``), so none of its agent's trials
        can run. Names only: what they hold is checked when a trial loads one."""
        try:
            with os.scandir(self.folder) as entries:
                return any(entry.name.endswith(SUFFIX) for entry in entries)
        except OSError:  # no folder (or not one): no cassette
            return False

    def name(self, path: Path) -> str:
        """The path as the repository names it, for reasons and errors."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def load(self, request: ChatRequest) -> ChatResponse | None:
        """The recorded response to exactly this request; None when there is no cassette.
        Raises InvalidCassette or CassetteMismatch: a cassette is never trusted blindly."""
        key = request.key()
        path = self.path(key)
        name = self.name(path)
        if self._real_root is None:
            self._real_root = self.root.resolve()
        data = read_bytes(path, self._real_root, name)
        if data is None:
            return None
        cassette = parse(data, name)
        verify(cassette, request, key, name)
        return response_of(cassette, name)

    def save(
        self, request: ChatRequest, response: ChatResponse, provenance: dict[str, Any]
    ) -> Path:
        key = request.key()
        document = {
            "format": CASSETTE_FORMAT,
            "key": key,
            "request": request_summary(request),
            "response": {"message": response.message, "finish_reason": response.finish_reason},
            "usage": {
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
                "cached_input_tokens": response.usage.cached_input_tokens,
            },
            "latency_s": round(response.latency_s, 4),
            "provenance": provenance,
        }
        path = self.path(key)
        if not self.folder.resolve().is_relative_to(self.root.resolve()):
            raise ProviderError(
                f"{self.name(self.folder)}: a symlink out of the repository; "
                "refusing to record cassettes through it"
            )
        write_atomic(
            path, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
        return path


class ReplayProvider:
    """Replays cassettes, or records them from a live provider."""

    def __init__(
        self,
        store: CassetteStore,
        mode: Mode = "replay",
        live: Provider | None = None,
        endpoint: str = "default",
        extra_provenance: dict[str, Any] | None = None,
    ) -> None:
        if mode == "record" and live is None:
            raise ProviderError("record mode needs a live provider")
        self.name = "replay" if mode == "replay" or live is None else live.name
        self.mode = mode
        self.store = store
        self._live = live
        self._endpoint = endpoint
        self._extra = dict(extra_provenance or {})

    async def complete(self, request: ChatRequest) -> ChatResponse:
        if self.mode == "replay" or self._live is None:
            response = self.store.load(request)
            if response is None:
                raise NotRecorded(request.key())
            return response
        response = await self._live.complete(request)
        # the write fsyncs: off the event loop, so other trials are not held up
        await asyncio.to_thread(self.store.save, request, response, self.provenance(request))
        return response

    def provenance(self, request: ChatRequest) -> dict[str, Any]:
        return {
            **self._extra,
            "provider": self._live.name if self._live is not None else request.provider,
            "endpoint": self._endpoint,
            "model": request.model,
            "recorded_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "alm_version": __version__,
            "mode": self.mode,
        }
