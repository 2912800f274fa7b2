"""JSON Schemas from the repository (tool arguments, eval ``json_schema`` checks): every use
of jsonschema in alm goes through here.

A schema in a pull request is untrusted, and jsonschema on its own would fetch a ``$ref``
URL (with no timeout) or read a local file. Here:

- nothing is ever retrieved: the registry's ``retrieve`` refuses every URI, and
  :func:`problems` checks each ``$ref`` / ``$dynamicRef`` before use: it must be a
  reference inside the same document (``#``, ``#/$defs/x``, ``#anchor``) that resolves.
  A ref elsewhere (http:, file:, a relative path, urn:...), a dangling one, and a loop that
  applies to the same value forever (``{"$ref": "#"}``) are problems at the ref's path;
- ``$schema`` must name a dialect jsonschema knows (draft-04, -06, -07, 2020-12);
- ``pattern`` and ``patternProperties`` run on RE2 (reconciler.spec.saferegex), and each
  one must compile there;
- one validation applies at most MAX_STEPS keywords, so a schema that fans out
  exponentially stops with an error instead of hanging.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any

import referencing.jsonschema
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import extend
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core import ValidationError as PydanticError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable

from reconciler.spec import saferegex
from reconciler.spec.schemakeywords import SAFE, STEPS_LEFT, BudgetExceeded, Keyword, counted
from reconciler.spec.schemawalk import Problem, walk

MAX_STEPS = 50_000  # keyword applications: ~0.1-2 s, far above any real tool call
MAX_ERRORS = 50
Path = tuple[str | int, ...]


def _refuse(uri: str) -> Resource[Any]:
    raise NoSuchResource(uri)  # alm never retrieves a $ref


REGISTRY: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]


def _safe(base: type[Validator]) -> type[Validator]:
    """The dialect's validator with RE2 patterns and every keyword charged to the budget."""
    keywords: dict[str, Keyword] = {
        k: SAFE.get(k) or fn for k, fn in base.VALIDATORS.items() if fn is not None
    }
    extended: type[Validator] = extend(  # type: ignore[no-untyped-call]
        base, {k: counted(fn) for k, fn in keywords.items()}
    )
    return extended


def _dialect_id(cls: type[Validator]) -> str:
    return str(cls.META_SCHEMA.get("$id") or cls.META_SCHEMA.get("id")).rstrip("#")


BASES: tuple[type[Validator], ...] = (
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft202012Validator,
)
DIALECTS: dict[str, tuple[type[Validator], type[Validator]]] = {
    _dialect_id(base): (base, _safe(base)) for base in BASES
}
DEFAULT_DIALECT = _dialect_id(Draft202012Validator)


class SchemaFailure(ValueError):
    """A schema alm will not use, or a validation that could not finish; says why."""


def dialect(schema: Any) -> str | None:
    """The dialect's URI; None when $schema names one alm does not know."""
    declared = schema.get("$schema", DEFAULT_DIALECT) if isinstance(schema, dict) else None
    if declared is None:
        return DEFAULT_DIALECT
    uri = declared.rstrip("#") if isinstance(declared, str) else None
    return uri if uri in DIALECTS else None


def _unknown_dialect(schema: Any) -> Problem:
    known = ", ".join(sorted(DIALECTS))
    return Problem(
        ("$schema",),
        f"$schema {schema.get('$schema')!r} is not a dialect alm knows (it never fetches one); "
        f"expected one of: {known}, or no $schema (2020-12)",
    )


def _meta_problem(schema: Any, uri: str) -> Problem | None:
    base = DIALECTS[uri][0]
    meta = base(base.META_SCHEMA, registry=REGISTRY)  # the meta-schemas are bundled
    error = best_match(meta.iter_errors(schema))
    if error is None:
        return None
    return Problem(tuple(error.absolute_path), f"not a valid JSON Schema: {error.message}")


def problems(schema: Any) -> list[Problem]:
    """Why alm will not use this schema, each at a path inside it; empty when it is fine.
    Checked once per distinct schema (validate checks the catalog's, then compiles them)."""
    text = _json_text(schema)
    if text is None:
        return _problems(schema)
    return list(_problems_of_text(text))


def _json_text(schema: Any) -> str | None:
    """The schema as JSON in its own key order, when that text stands for it exactly
    (not for mappings with non-string keys, NaN, tuples...)."""
    try:
        text = json.dumps(schema, separators=(",", ":"))
        return text if json.loads(text) == schema else None
    except (TypeError, ValueError, RecursionError):
        return None


@lru_cache(maxsize=1024)
def _problems_of_text(text: str) -> tuple[Problem, ...]:
    return tuple(_problems(json.loads(text)))


def _problems(schema: Any) -> list[Problem]:
    if not isinstance(schema, dict | bool):
        return [Problem((), "expected a JSON Schema: a mapping, true or false")]
    uri = dialect(schema)
    if uri is None:
        return [_unknown_dialect(schema)]
    meta = _meta_problem(schema, uri)
    if meta is not None:
        return [meta]
    return walk(schema, referencing.jsonschema.specification_with(uri), REGISTRY)


def raise_at(found: list[tuple[Path, str | None]]) -> None:
    """For pydantic validators: raise one error per (path inside the field, message), so
    each is reported at its own line; entries without a message are fine."""
    errors = [
        InitErrorDetails(type=PydanticCustomError("unsafe", message), loc=path, input=None)
        for path, message in found
        if message is not None
    ]
    if errors:
        raise PydanticError.from_exception_data("unsafe", errors)


def raise_problems(schema: Any) -> None:
    """For pydantic validators: each problem of the schema, at its path in the field."""
    raise_at([(p.path, p.message) for p in problems(schema)])


@dataclass(frozen=True)
class SafeValidator:
    """A checked schema, ready to validate values within the step budget."""

    validator: Validator

    def at(self, *path: str | int) -> SafeValidator:
        """The subschema at path, resolving its $refs against the whole schema."""
        sub: Any = self.validator.schema
        for part in path:
            sub = sub[part]
        return SafeValidator(self.validator.evolve(schema=sub))

    def errors(self, instance: Any, limit: int = MAX_ERRORS) -> list[ValidationError]:
        """Up to `limit` validation errors; raises SchemaFailure when validation cannot end."""
        token = STEPS_LEFT.set([MAX_STEPS])
        try:
            return list(islice(self.validator.iter_errors(instance), limit))
        except BudgetExceeded:
            raise SchemaFailure(
                f"validation stopped after {MAX_STEPS} steps; expected a schema that does "
                "not multiply its work at every level"
            ) from None
        except Unresolvable:
            raise SchemaFailure("a $ref does not resolve inside the schema") from None
        except saferegex.UnsafePattern as err:
            raise SchemaFailure(str(err)) from None
        except RecursionError:
            raise SchemaFailure("the schema recurses too deeply for this value") from None
        finally:
            STEPS_LEFT.reset(token)

    def is_valid(self, instance: Any) -> bool:
        return not self.errors(instance, limit=1)

    def best_error(self, instance: Any) -> ValidationError | None:
        best: ValidationError | None = best_match(self.errors(instance))
        return best

    def messages(self, instance: Any) -> Iterator[str]:
        """One line per error: the path in the value, then what is wrong."""
        for error in sorted(self.errors(instance), key=lambda e: str(list(e.absolute_path))):
            yield f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"


def compile(schema: Any) -> SafeValidator:
    """A validator for a schema; raises SchemaFailure naming its first problem."""
    try:
        text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        raise SchemaFailure("expected a JSON Schema made of JSON values") from None
    ready = _READY.get(text)  # the hot path: a tool's schema at each of its calls
    if ready is not None:
        return ready
    own = _json_text(schema)  # checked in its own key order: the check validate ran, cached
    _raise_first(_problems(json.loads(text)) if own is None else _problems_of_text(own))
    validator = _READY[text] = _compile(text)
    if len(_READY) > 1024:
        _READY.pop(next(iter(_READY)))
    return validator


# sorted JSON text -> validator, for schemas found without problems (in any key order:
# whether a schema has problems does not depend on the order of its keys)
_READY: dict[str, SafeValidator] = {}


def _raise_first(found: Sequence[Problem]) -> None:
    if found:
        where = "/".join(map(str, found[0].path))
        raise SchemaFailure(f"{where}: {found[0].message}" if where else found[0].message)


@lru_cache(maxsize=1024)
def _compile(text: str) -> SafeValidator:
    """The validator of a schema without problems."""
    schema = json.loads(text)
    uri = dialect(schema) or DEFAULT_DIALECT
    return SafeValidator(DIALECTS[uri][1](schema, registry=REGISTRY))
