"""OTLP JSON attribute values (AnyValue) decoded and bounded, the types the GenAI
conventions fix for the attributes alm reads, and untrusted text quoted in details.

Shared by the reader (reconciler.ops.otlp) and assembly (reconciler.ops.assemble), which
checks the same GenAI types on spans from sources that skip the reader (ClickHouse keeps
every attribute as a string).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

MAX_ATTRIBUTE = 1024 * 1024  # characters of one string (or bytes) attribute
MAX_KEY = 1024  # characters of an attribute key
MAX_DEPTH = 16  # nested arrayValue / kvlistValue
DETAIL = 60  # characters of untrusted text quoted in a detail
_INT64 = 2**63
_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_JSON_TYPES = {dict: "JSON object", list: "JSON array", type(None): "null"}


class BadValue(Exception):
    """Input that makes a span bad: its BAD_KINDS kind and what was wrong."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


# --- attributes ------------------------------------------------------------------------


def attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if type(items) is not list:
        raise BadValue("wrong-type", f"attributes {quoted(items)}: expected a list")
    decoded: dict[str, Any] = {}
    typed_of, limit = GENAI_TYPES.get, MAX_ATTRIBUTE  # locals: this is the reader's hot loop
    for item in items:
        key = item.get("key") if type(item) is dict else None
        if type(key) is not str or len(key) > MAX_KEY:
            raise BadValue("wrong-type", f"an attribute key {quoted(key)}: expected a short string")
        raw = item.get("value")
        value = raw.get("stringValue") if type(raw) is dict else None  # the common case
        if type(value) is not str or len(value) > limit or len(raw) != 1:
            value = _any_value(raw, key, 0)
        typed = typed_of(key)
        if typed is not None and value is not None and not (typed is text and type(value) is str):
            value = _typed(typed, key, value)
        decoded[key] = value
    return decoded


def _typed(typed: Callable[[Any], Any], key: str, value: Any) -> Any:
    try:
        return typed(value)
    except ValueError as error:
        raise BadValue("wrong-type", f"{key} {quoted(value)}: expected {error}") from None


def _any_value(value: Any, key: str, depth: int) -> Any:
    if value is None or value == {}:
        return None
    if type(value) is not dict or len(value) != 1:
        raise BadValue("wrong-type", f"{key} {quoted(value)}: expected one AnyValue field")
    ((tag, inner),) = value.items()
    decode = _ANY_VALUES.get(tag)
    if decode is None:
        raise BadValue("wrong-type", f"{key}: unknown AnyValue field {quoted(tag)}")
    if depth > MAX_DEPTH:
        raise BadValue("too-large", f"{key}: values nested over {MAX_DEPTH} deep")
    return decode(inner, key, depth)


def string(value: Any, key: str, depth: int) -> str:
    if type(value) is not str:
        raise BadValue("wrong-type", f"{key} {quoted(value)}: expected a string")
    if len(value) > MAX_ATTRIBUTE:
        raise BadValue("too-large", f"{key}: a string of {len(value):,} characters")
    return value


def _int(value: Any, key: str, depth: int) -> int:
    if type(value) is str and len(value) <= 20 and value.removeprefix("-").isdigit():
        value = int(value) if value.isascii() else None
    if type(value) is not int or not -_INT64 <= value < _INT64:
        raise BadValue("wrong-type", f"{key} intValue {quoted(value)}: expected an int64")
    return value


def _double(value: Any, key: str, depth: int) -> float:
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:
        try:
            return _FLOATS.get(value) or float(value)
        except ValueError:
            pass
    raise BadValue("wrong-type", f"{key} doubleValue {quoted(value)}: expected a number")


def _bool(value: Any, key: str, depth: int) -> bool:
    if type(value) is not bool:
        raise BadValue("wrong-type", f"{key} boolValue {quoted(value)}: expected true or false")
    return value


def _bytes(value: Any, key: str, depth: int) -> str:
    """Checked, and kept as its base64 text: attributes stay JSON values."""
    try:
        base64.b64decode(string(value, key, depth), validate=True)
        return str(value)
    except binascii.Error:
        raise BadValue("wrong-type", f"{key} bytesValue {quoted(value)}: expected base64") from None


def _array(value: Any, key: str, depth: int) -> list[Any]:
    values = value.get("values") or [] if type(value) is dict else None
    if type(values) is not list:
        raise BadValue(
            "wrong-type", f"{key} arrayValue {quoted(value)}: expected {{values: [...]}}"
        )
    return [_any_value(item, key, depth + 1) for item in values]


def _kvlist(value: Any, key: str, depth: int) -> dict[str, Any]:
    values = value.get("values") or [] if type(value) is dict else None
    if type(values) is not list:
        raise BadValue(
            "wrong-type", f"{key} kvlistValue {quoted(value)}: expected {{values: [...]}}"
        )
    decoded = {}
    for item in values:
        name = item.get("key") if type(item) is dict else None
        if type(name) is not str or len(name) > MAX_KEY:
            raise BadValue("wrong-type", f"{key}: a kvlistValue key that is not a short string")
        decoded[name] = _any_value(item.get("value"), f"{key}.{name}", depth + 1)
    return decoded


_ANY_VALUES: dict[str, Callable[[Any, str, int], Any]] = {
    "stringValue": string,
    "intValue": _int,
    "doubleValue": _double,
    "boolValue": _bool,
    "bytesValue": _bytes,
    "arrayValue": _array,
    "kvlistValue": _kvlist,
}


# --- GenAI attribute types (shared with assembly, for spans from other sources) --------


def count(value: Any) -> int:
    """A token count: a non-negative integer (an integral double or a decimal string, as
    some SDKs and ClickHouse's string maps carry it, is accepted)."""
    integral = type(value) is float and value.is_integer()
    if integral or (type(value) is str and value.isascii() and value.isdigit()):
        value = int(value)
    if type(value) is not int or value < 0:
        raise ValueError("a non-negative integer")
    return value


def text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError("a string")
    return value


_COUNTS = "usage.input_tokens usage.output_tokens usage.cache_read.input_tokens"
_TEXTS = "operation.name agent.name agent.version conversation.id provider.name system \
request.model response.model tool.name tool.call.id"
GENAI_TYPES: dict[str, Callable[[Any], Any]] = {
    **{f"gen_ai.{name}": count for name in _COUNTS.split()},
    **{f"gen_ai.{name}": text for name in _TEXTS.split()},
    "error.type": text,
}


def coerced_genai(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The attributes with GenAI values coerced to their types; None when none changed
    (the reader's spans: no copy)."""
    changed: dict[str, Any] = {}
    for key, value in attributes.items():
        typed = GENAI_TYPES.get(key)
        if typed is None or value is None or _already(typed, value):
            continue
        try:
            new = typed(value)
        except ValueError as error:
            raise ValueError(f"{key} {quoted(value)}: expected {error}") from None
        if new is not value:
            changed[key] = new
    return {**attributes, **changed} if changed else None


def _already(typed: object, value: Any) -> bool:
    """Whether the type check would return the value unchanged (the reader's spans, nearly
    always): a string for text, a non-negative int for a count."""
    if typed is text:
        return type(value) is str
    return typed is count and type(value) is int and value >= 0


# --- details ---------------------------------------------------------------------------


def clip(text: str) -> str:
    return text if len(text) <= 2 * DETAIL else text[: 2 * DETAIL] + "..."


def quoted(value: object) -> str:
    """Untrusted input quoted in a detail: clipped, escaped, containers by type only."""
    if isinstance(value, str | bytes):
        return repr(value[:DETAIL]) + ("..." if len(value) > DETAIL else "")
    if isinstance(value, bool | int | float):
        return clip(repr(value))
    return f"a {_JSON_TYPES.get(type(value), type(value).__name__)}"
