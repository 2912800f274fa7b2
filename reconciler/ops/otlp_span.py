"""One OTLP span checked and decoded: ids, times, status, name, attributes and the alm.*
labels of its `alm.label` events. Any field of the wrong shape raises a BadValue naming the
span, which ops.otlp turns into a BadSpan at the line it came from.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.ops.model import Span
from reconciler.ops.otlp_values import BadValue, attributes, quoted, string

_HEX = frozenset("0123456789abcdef")
_ZEROS = {16: "0" * 16, 32: "0" * 32}
_INT64 = 2**63
_STATUS = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def check_text(raw: Any) -> None:
    """Raise when a value holds a lone UTF-16 surrogate (decoded, but not Unicode text)."""
    try:
        json.dumps(raw, ensure_ascii=False).encode()
    except (UnicodeEncodeError, RecursionError):
        raise BadValue("bad-json", "a lone UTF-16 surrogate escape (not Unicode text)") from None


def decode_span(raw: Any, resource: dict[str, Any], escaped: bool) -> Span:
    """A span of this resource (`escaped`: its line may hold a lone surrogate escape)."""
    if type(raw) is not dict:
        raise BadValue("not-otlp", f"a span that is {quoted(raw)}")
    if escaped:
        check_text(raw)
    trace_id = _id(raw.get("traceId"), 32, "traceId")
    span_id = _id(raw.get("spanId"), 16, "spanId")
    try:
        parent = raw.get("parentSpanId")
        start = _time(raw.get("startTimeUnixNano"), "startTimeUnixNano")
        end = _time(raw.get("endTimeUnixNano"), "endTimeUnixNano")
        if end < start:
            raise BadValue("bad-time", f"ends ({end}) before it starts ({start})")
        code, message = _status(raw.get("status"))
        decoded = attributes(raw.get("attributes"))
        if "events" in raw:
            decoded.update(_event_labels(raw["events"]))
        return Span(
            trace_id, span_id, _id(parent, 16, "parentSpanId") if parent else None,
            _name(raw.get("name", "")), start, end, code, message, decoded, resource,
        )  # fmt: skip
    except BadValue as bad:
        raise BadValue(bad.kind, f"span {span_id} of trace {trace_id}: {bad.detail}") from None


def _id(value: Any, digits: int, field: str) -> str:
    if value is None or value == "":
        raise BadValue("missing-id", f"a span without {field}")
    if type(value) is str and len(value) == digits:
        low = value.lower()
        if _HEX.issuperset(low) and low != _ZEROS[digits]:
            return low
    raise BadValue("bad-id", f"{field} {quoted(value)}: expected {digits} hex digits, not all 0")


def _time(value: Any, field: str) -> int:
    if type(value) is str and len(value) <= 20 and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is int and 0 < value < _INT64:
        return value
    raise BadValue("bad-time", f"{field} {quoted(value)}: expected unix nanoseconds")


def _name(value: Any) -> str:
    return string(value, "name", 0)


def _status(raw: Any) -> tuple[int, str]:
    if not raw:
        return 0, ""
    code = raw.get("code", 0) if type(raw) is dict else None
    message = raw.get("message", "") if type(raw) is dict else None
    code = _STATUS.get(code, code) if type(code) is str else code
    if type(code) is not int or code not in (0, 1, 2) or type(message) is not str:
        raise BadValue("wrong-type", f"status {quoted(raw)}: expected {{code: 0-2, message}}")
    return code, string(message, "status message", 0)


def _event_labels(events: Any) -> dict[str, Any]:
    """The alm.* attributes of `alm.label` span events (a label sent with the span)."""
    labels: dict[str, Any] = {}
    for event in events if type(events) is list else ():
        if type(event) is dict and event.get("name") == "alm.label":
            found = attributes(event.get("attributes"))
            labels.update((k, v) for k, v in found.items() if k.startswith("alm."))
    return labels
