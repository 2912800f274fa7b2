"""Plain values straight from the C parser's events: the fast way to read a plain document.

Composing a node graph first (what yamlbuild's builder walks) costs about as much again as
parsing, and most spec files use none of what needs a graph: no anchors, aliases, merge
keys or explicit tags. `plain_values` builds such files' values from the events alone and
answers None for anything else, and for anything wrong (a syntax error, a duplicate key,
nesting past the bound, too many values, a scalar that will not construct), so that the
full builder decides those with its own positions and messages: its findings stay the
only ones, word for word. Scalars resolve and construct exactly as the safe loader's do
(PyYAML's resolver and SafeConstructor, YAML 1.1), remembered by text in bounded tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

CParser: type[Any] | None = getattr(getattr(yaml, "_yaml", None), "CParser", None)

STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
_JSON_TYPES = (bool, int, type(None))
_MAX_TEXT = 64  # only short scalars are remembered: a spec repeats its keys and values
_MAX_ENTRIES = 65536
PLAIN_TAGS: dict[str, str] = {}
_built: dict[tuple[str, str], Any] = {}
_RESOLVER: Any = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
FAILED = object()
_INT_RANGE = (-(2**63), 2**64)  # what JSON readers give back as the same integer


def resolve_scalar(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag the safe loader gives an untagged scalar: only a plain one is resolved
    (PyYAML gives a quoted one the str tag), and while no path resolvers are registered
    (the safe loader has none) the answer depends on the text alone."""
    return plain_tag(value) if implicit[0] else STR_TAG


def plain_tag(value: str) -> str:
    tag = PLAIN_TAGS.get(value)
    if tag is None:
        tag = str(_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)))
        if len(value) <= _MAX_TEXT and len(PLAIN_TAGS) < _MAX_ENTRIES:
            PLAIN_TAGS[value] = tag
    return tag


def _construct(tag: str, value: str) -> Any:
    """The safe loader's value for an implicitly tagged scalar; FAILED when it has none
    (the full builder words that error). Results are immutable, so they are shared."""
    key = (tag, value)
    built = _built.get(key, FAILED)
    if built is not FAILED:
        return built
    make = _CONSTRUCTOR.yaml_constructors.get(tag)
    if make is None:
        return FAILED
    try:
        built = make(_CONSTRUCTOR, yaml.ScalarNode(tag, value))
    except Exception:  # whatever it is, the full builder reports it
        return FAILED
    if len(value) <= _MAX_TEXT and len(_built) < _MAX_ENTRIES:
        _built[key] = built
    return built


def _json_exact(value: Any) -> bool:
    """Whether JSON gives this constructed scalar back as itself (no date, NaN, huge int)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT_RANGE[0] <= value < _INT_RANGE[1]
    return isinstance(value, _JSON_TYPES)


_NO_KEY = object()  # in a mapping, between a value and the next key
_LIST = object()  # in a sequence (or at the top: documents are listed)


def typed(tag: str, value: str) -> Any:
    """A plain scalar that is not a string; FAILED when the full builder must see it."""
    return FAILED if tag == MERGE_TAG else _construct(tag, value)


def _read(get_event: Any, max_depth: int, max_nodes: int) -> tuple[list[Any], bool] | None:
    """One loop over the events, the innermost collection kept in locals: this runs once
    per event of every spec file (about a million for 1,000 agents), so it avoids a call
    per value where it can."""
    roots: list[Any] = []
    into: Any = roots  # the innermost open collection
    key: Any = _LIST  # in a mapping, the key awaiting its value
    stack: list[tuple[Any, Any]] = []
    exact, nodes, tags = True, 0, PLAIN_TAGS
    scalar, mapping, sequence = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    while True:
        event = get_event()
        kind = event.__class__
        if kind is scalar:
            if event.tag is not None or event.anchor is not None:
                return None
            value = event.value
            if event.implicit[0]:  # plain: resolved (quoted is always a string)
                tag = tags.get(value) or plain_tag(value)
                if tag != STR_TAG:
                    value = typed(tag, value)
                    if value is FAILED:
                        return None
                    exact = exact and _json_exact(value) and key is not _NO_KEY
        elif kind is mapping or kind is sequence:
            if event.tag is not None or event.anchor is not None or len(stack) >= max_depth - 1:
                return None
            if key is _NO_KEY:  # a collection as a mapping key
                return None
            value = {} if kind is mapping else []
            into.append(value) if key is _LIST else into.__setitem__(key, value)
            nodes += 1
            stack.append((into, key if key is _LIST else _NO_KEY))
            into, key = value, (_NO_KEY if kind is mapping else _LIST)
            continue
        elif kind in ends:
            into, key = stack.pop()
            continue
        elif kind is yaml.DocumentEndEvent:
            if nodes > max_nodes:  # the bound is per document; memory is bounded by size
                return None
            nodes = 0
            continue
        elif kind is yaml.StreamEndEvent:
            return (roots, exact) if roots else None
        elif kind is yaml.AliasEvent:
            return None
        else:
            continue
        nodes += 1
        if key is _NO_KEY:  # the value is a key
            if value in into:
                return None
            key = value
        elif key is _LIST:
            into.append(value)
        else:
            into[key] = value
            key = _NO_KEY


def plain_values(text: str, max_depth: int, max_nodes: int) -> tuple[list[Any], bool] | None:
    """The values of each document and whether JSON gives them all back exactly; None when
    the file needs the full builder (or when PyYAML has no C parser here)."""
    return over_events(text, _read, max_depth, max_nodes)


def over_events(
    text: str,
    walk: Callable[[Callable[[], Any], int, int], T | None],
    max_depth: int,
    max_nodes: int,
) -> T | None:
    """``walk`` over the C parser's events of ``text`` within the bounds; None when PyYAML
    has no C parser here or the text does not parse (the full builder then says why)."""
    if CParser is None:
        return None
    parser = CParser(text)
    try:
        return walk(parser.get_event, max_depth, max_nodes)
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()
