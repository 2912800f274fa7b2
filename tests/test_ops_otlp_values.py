"""AnyValue and GenAI attribute checks shared by the reader and assembly."""

from __future__ import annotations

import pytest

from reconciler.ops import otlp_values as values


def test_genai_counts_accept_what_sdks_and_string_maps_carry() -> None:
    assert [values.count(v) for v in (3, 3.0, "3")] == [3, 3, 3]
    for value in (-1, 2.5, "3.0", "lots", True, None, float("nan")):
        with pytest.raises(ValueError, match="non-negative integer"):
            values.count(value)


def test_genai_names_must_be_strings() -> None:
    assert values.GENAI_TYPES["gen_ai.agent.name"]("support") == "support"
    with pytest.raises(ValueError, match="a string"):
        values.GENAI_TYPES["gen_ai.request.model"](4)


def test_untrusted_text_is_clipped_and_escaped_in_details() -> None:
    shown = values.quoted("\x1b[31m" + "x" * 500)
    assert shown.startswith("'\\x1b[31m") and shown.endswith("...") and len(shown) < 80
    assert values.quoted({"a": 1}) == "a JSON object" and values.quoted(None) == "a null"
    assert len(values.quoted(2**5000)) < 130  # a long number, clipped


def test_nesting_is_bounded() -> None:
    deep: dict[str, object] = {"stringValue": "x"}
    for _ in range(values.MAX_DEPTH + 2):
        deep = {"arrayValue": {"values": [deep]}}
    with pytest.raises(values.BadValue, match="nested over") as caught:
        values.attributes([{"key": "k", "value": deep}])
    assert caught.value.kind == "too-large"
