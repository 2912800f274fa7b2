"""Cassettes: recorded model responses, so CI runs offline, repeatably and without a key.

A cassette is ``evals/<agent>/cassettes/<key>.json`` where ``key`` is ``ChatRequest.key()``:
the hash of model, messages, tools, tool_choice and parameters. It holds a summary of the
request, the response, the token usage, the recorded latency and its provenance: which
provider and model produced it, when, with which alm version and in which mode. The
endpoint's host is withheld (only "default" or "custom" is kept). A recorder may add its
own fields to the provenance (``extra_provenance``, e.g. "this was not the named model");
they never replace the fields above.

Modes:
- ``replay`` (the default): answer from cassettes only; a missing one raises NotRecorded.
- ``record``: call the live provider and write (or overwrite) the cassette atomically.
- ``live``: call the live provider only (built in ``providers``, not here).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from reconciler import __version__
from reconciler.evals.types import ChatRequest, ChatResponse, NotRecorded, Provider, ProviderError
from reconciler.fsutil import write_atomic
from reconciler.pricing import TokenUsage

Mode = Literal["replay", "record", "live"]
MODES: tuple[Mode, ...] = ("replay", "record", "live")
CASSETTE_FORMAT = "alm.cassette/v1"


class CassetteStore:
    """One folder of cassettes, one JSON file per request key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, request: ChatRequest) -> ChatResponse | None:
        path = self.path(request.key())
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ProviderError(f"{path}: unreadable cassette: {exc}") from None
        return response_from(data, path)

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
        write_atomic(
            path, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
        return path


def request_summary(request: ChatRequest) -> dict[str, Any]:
    """Enough to recognise the request in a review; the key covers the rest."""
    return {
        "model": request.model,
        "params": request.params,
        "tool_choice": request.tool_choice,
        "tools": [t.get("function", {}).get("name", "") for t in request.tools],
        "message_count": len(request.messages),
        "last_message": request.messages[-1] if request.messages else None,
    }


def response_from(data: Any, path: Path) -> ChatResponse:
    try:
        if data["format"] != CASSETTE_FORMAT:
            raise ValueError(f"expected format {CASSETTE_FORMAT}, found {data['format']!r}")
        usage = data["usage"]
        return ChatResponse(
            message=data["response"]["message"],
            usage=TokenUsage(
                input_tokens=int(usage["input_tokens"]),
                output_tokens=int(usage["output_tokens"]),
                cached_input_tokens=int(usage.get("cached_input_tokens", 0)),
            ),
            finish_reason=str(data["response"].get("finish_reason", "stop")),
            latency_s=float(data.get("latency_s", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(f"{path}: malformed cassette: {exc}") from None


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
