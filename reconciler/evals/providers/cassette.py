"""The cassette file format (``alm.cassette/v1``), read as hostile data.

A cassette comes from the repository, so from any pull request. It is read only from a
regular file inside the repository (a symlink out of it is refused), at most
``MAX_BYTES``, as UTF-8 JSON with finite numbers and bounded nesting, and validated
strictly: unknown fields, a list where an object belongs, a string for a token count, a
negative or infinite latency are all invalid. An invalid cassette is an ``InvalidCassette``
(the trial is not run, with that reason); one recorded for another request is a
``CassetteMismatch`` ("not recorded"). Neither is ever replayed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from reconciler.evals.safejson import JsonRefused, NotJson, check_depth, describe, loads
from reconciler.evals.types import ChatRequest, ChatResponse, NotRecorded, ProviderError
from reconciler.pricing import TokenUsage

CASSETTE_FORMAT = "alm.cassette/v1"
MAX_BYTES = 2 * 1024 * 1024
MAX_TOKENS = 10**9  # per model call; more is no real usage
MAX_LATENCY_S = 86_400.0
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO named <key>.json must not block the open


class InvalidCassette(ProviderError):
    def __init__(self, name: str, expected: str) -> None:
        super().__init__(f"invalid cassette {name}: {expected}")

    @classmethod
    def at(cls, name: str, refused: JsonRefused) -> InvalidCassette:
        where = f"{name}:{refused.position}" if refused.position else name
        return cls(where, str(refused))


class CassetteMismatch(NotRecorded):
    """The cassette on file was recorded for another request: not a recording of this one."""

    def __init__(self, key: str, name: str, what: str) -> None:
        message = f"not recorded: cassette {name} is for another request: {what}"
        ProviderError.__init__(self, message)
        self.key = key


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Function(_Strict):
    name: str
    arguments: str | dict[str, Any]

    @field_validator("arguments", mode="before")
    @classmethod
    def _text_or_object(cls, value: Any) -> Any:
        if not isinstance(value, (str, dict)):
            raise ValueError("expected a JSON string or an object")
        return value


class _ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: _Function


class _Message(_Strict):
    role: Literal["assistant"]
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Response(_Strict):
    message: _Message
    finish_reason: str = "stop"


class _Usage(_Strict):
    input_tokens: int = Field(ge=0, le=MAX_TOKENS)
    output_tokens: int = Field(ge=0, le=MAX_TOKENS)
    cached_input_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)

    @model_validator(mode="after")
    def _cached_within_input(self) -> _Usage:
        if self.cached_input_tokens > self.input_tokens:
            raise ValueError("cached_input_tokens must be at most input_tokens")
        return self


class _Request(_Strict):
    model: str
    params: dict[str, Any]
    tool_choice: str | None
    tools: list[str]
    message_count: int = Field(ge=0)
    last_message: dict[str, Any] | None


class Cassette(_Strict):
    format: Literal["alm.cassette/v1"]
    key: str = Field(pattern=r"^[0-9a-f]{64}$")
    request: _Request
    response: _Response
    usage: _Usage
    latency_s: float = Field(default=0.0, ge=0.0, le=MAX_LATENCY_S, allow_inf_nan=False)
    provenance: dict[str, Any]


def read_bytes(path: Path, real_root: Path, name: str) -> bytes | None:
    """The file's bytes; None when absent. Refuses symlinks out of real_root (the
    repository root, resolved), non-regular files and files over MAX_BYTES (never read
    past the limit)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(real_root):
        raise InvalidCassette(name, "a symlink out of the repository; expected a file in it")
    try:
        fd = os.open(resolved, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidCassette(name, f"unreadable ({exc.strerror}); expected a file") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidCassette(name, "not a regular file; expected a JSON file")
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InvalidCassette(name, f"larger than {MAX_BYTES // 1024 // 1024} MiB")
    return data


def parse(data: bytes, name: str) -> Cassette:
    try:
        value = loads(data)
        return Cassette.model_validate(value)
    except JsonRefused as exc:
        raise InvalidCassette.at(name, exc) from None
    except ValidationError as exc:
        raise InvalidCassette(name, describe(exc.errors()[0])) from None


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


def verify(cassette: Cassette, request: ChatRequest, key: str, name: str) -> None:
    """The cassette must be a recording of this very request: its key (``request.key()``,
    which also names the file) and its summary."""
    if cassette.key != key:
        raise CassetteMismatch(key, name, f"it records key {cassette.key[:12]}")
    expected = json.loads(json.dumps(request_summary(request)))
    recorded = cassette.request.model_dump()
    for field, value in expected.items():
        if recorded.get(field) != value:
            raise CassetteMismatch(key, name, f"request.{field} differs")


def response_of(cassette: Cassette, name: str) -> ChatResponse:
    usage = cassette.usage
    return ChatResponse(
        message=_message(cassette.response.message, name),
        usage=TokenUsage(usage.input_tokens, usage.output_tokens, usage.cached_input_tokens),
        finish_reason=cassette.response.finish_reason,
        latency_s=cassette.latency_s,
    )


def _message(message: _Message, name: str) -> dict[str, Any]:
    """The assistant message in the shape the openai provider returns (the next request's
    key depends on it); arguments given as an object become their JSON text."""
    out: dict[str, Any] = {"role": "assistant", "content": message.content}
    calls = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.function.name, "arguments": _arguments(call, name)},
        }
        for call in message.tool_calls or ()
    ]
    if calls:
        out["tool_calls"] = calls
    return out


def _arguments(call: _ToolCall, name: str) -> str:
    """Arguments the runner will parse: deep nesting and NaN are refused here, text that is
    not JSON at all is left for the sandbox to answer as an error."""
    raw = call.function.arguments
    try:
        if isinstance(raw, dict):
            check_depth(raw)
            return json.dumps(raw, ensure_ascii=False)
        text = raw
        loads(text)
    except NotJson:
        pass
    except JsonRefused as exc:
        raise InvalidCassette(name, f"tool call {call.id[:40]!r} arguments: {exc}") from None
    return text
