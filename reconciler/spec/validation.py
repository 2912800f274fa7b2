"""Turn a YAML document into a model, and pydantic's errors into findings."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from reconciler.errors import Finding
from reconciler.spec.base import API_VERSION
from reconciler.spec.yamlsafe import Document


def check_header(doc: Document, kinds: dict[str, type[BaseModel]]) -> list[Finding]:
    """apiVersion and kind first, so a wrong kind gets one clear message."""
    data = doc.data
    if not isinstance(data, dict):
        got = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"
        return [
            _finding(doc, (), f"document is {got}; expected a mapping with apiVersion and kind")
        ]
    findings = []
    if data.get("apiVersion") != API_VERSION:
        findings.append(
            _finding(
                doc,
                ("apiVersion",),
                f"apiVersion is {data.get('apiVersion')!r}; expected {API_VERSION!r}",
            )
        )
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:  # a list or mapping is not hashable
        findings.append(
            _finding(
                doc,
                ("kind",),
                f"kind is {kind!r}; expected one of: {', '.join(sorted(kinds))} in this folder",
                "kind",
            )
        )
    return findings


def parse(
    doc: Document, kinds: dict[str, type[BaseModel]]
) -> tuple[BaseModel | None, list[Finding]]:
    findings = check_header(doc, kinds)
    if findings:
        return None, findings
    model_cls = kinds[doc.data["kind"]]
    try:
        return model_cls.model_validate(doc.data), []
    except ValidationError as err:
        return None, [_from_error(doc, model_cls, e) for e in err.errors(include_url=False)]


def _finding(doc: Document, loc: tuple[Any, ...], message: str, code: str = "schema") -> Finding:
    return Finding(code, message, doc.location(loc))


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def _from_error(doc: Document, model_cls: type[BaseModel], error: Any) -> Finding:
    loc = tuple(p for p in error["loc"] if _is_data_part(p))
    kind = error["type"]
    if kind == "extra_forbidden":
        field = str(loc[-1]) if loc else "?"
        allowed = field_names(model_cls, loc[:-1])
        hint = difflib.get_close_matches(field, allowed, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        message = (
            f"unknown field {field!r} in {_dotted(loc[:-1])}{did_you_mean}; "
            f"expected one of: {', '.join(sorted(allowed))}"
        )
        return Finding("unknown-field", message, doc.location(loc, prefer_key=True))
    if kind == "missing":
        return Finding(
            "missing-field",
            f"missing required field {_dotted(loc)}",
            doc.location(loc, prefer_key=True),
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    return Finding("schema", f"{_dotted(loc)}: {message}", doc.location(loc))


def _is_data_part(part: Any) -> bool:
    """Union member tags such as 'str' or 'function-after[...]' are not in the data."""
    if isinstance(part, int):
        return True
    return not ("[" in part or part in {"str", "int", "float", "bool", "list", "dict"})


def field_names(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names (by alias) of the model found at loc."""
    current: Any = model_cls
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = _field_by_alias(current, str(part))
        current = _model_in(field.annotation) if field else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _field_by_alias(model_cls: type[BaseModel], key: str) -> Any:
    for name, field in model_cls.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, dict, Union, types.UnionType) or origin is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None
