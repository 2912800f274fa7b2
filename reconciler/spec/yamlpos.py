"""Positions of a plain YAML file straight from the C parser's events, in one pass.

A finding's file:line:column needs the start mark of one value or key. The full builder
(yamlbuild) finds them by composing a node graph and walking it, about twice the cost of
the parser alone; for a plain file (what yamlevents reads from events: no anchors,
aliases, merge keys or explicit tags) each node's position is its event's start mark, and
its path follows from the events' nesting, so one loop over the events gives the same
tables. Anything else, and anything the builder would refuse or bound differently (a
duplicate key, nesting or node counts past the bounds, a scalar that will not construct,
a syntax error), answers None: the caller asks the builder, whose answer stays the only
one there (tests/test_spec_yamlpos.py compares the two).
"""

from __future__ import annotations

from typing import Any

import yaml

from reconciler.spec.yamlevents import FAILED, PLAIN_TAGS, STR_TAG, over_events, plain_tag, typed

Path = tuple[Any, ...]
Mark = tuple[int, int]
Tables = tuple[dict[Path, Mark], dict[Path, Mark]]  # values, keys

_KEY = object()  # in a mapping, the next node is a key
_ITEM = object()  # in a sequence: the next node is an item
_ROOT = object()  # the next node is a document's root


def _walk(get_event: Any, max_depth: int, max_nodes: int) -> list[Tables] | None:
    """One loop over the events, the open collection's state in locals (a spec has a few
    hundred events; this runs for each file a finding is reported in)."""
    documents: list[Tables] = []
    values: dict[Path, Mark] = {}
    keys: dict[Path, Mark] = {}
    path: Path = ()  # of the innermost open collection
    state: Any = _ROOT  # _KEY, _ITEM, _ROOT, or the path of the value that comes next
    index = nodes = 0
    tags = PLAIN_TAGS
    stack: list[tuple[Path, Any, int]] = []
    at: Path
    scalar, mapping, sequence = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    while True:
        event = get_event()
        kind = event.__class__
        if kind is scalar or kind is mapping or kind is sequence:
            if event.tag is not None or event.anchor is not None:
                return None
            nodes += 1
            mark = event.start_mark
            here = (mark.line + 1, mark.column + 1)
            if state is _KEY:
                if kind is not scalar:
                    return None
                key = event.value
                if event.implicit[0]:  # plain: resolved (quoted is always a string)
                    tag = tags.get(key) or plain_tag(key)
                    if tag != STR_TAG:
                        key = typed(tag, key)  # FAILED for a merge key
                at = (*path, key)
                if key is FAILED or at in keys:  # the builder decides; a duplicate
                    return None
                keys[at] = here
                state = at  # the value's path too: one tuple for both tables
                continue
            if state is _ITEM:
                at = (*path, index)
                index += 1
            elif state is _ROOT:
                at = ()
            else:
                at, state = state, _KEY
            values[at] = here
            if kind is scalar:
                if event.implicit[0]:  # a plain scalar that will not construct: builder's
                    value = event.value
                    tag = tags.get(value) or plain_tag(value)
                    if tag != STR_TAG and typed(tag, value) is FAILED:
                        return None
                continue
            if len(stack) >= max_depth - 1:
                return None
            stack.append((path, state, index))
            path, state, index = at, (_KEY if kind is mapping else _ITEM), 0
        elif kind in ends:
            path, state, index = stack.pop()
        elif kind is yaml.DocumentEndEvent:
            if nodes > max_nodes:
                return None
            documents.append((values, keys))
            values, keys, state, nodes = {}, {}, _ROOT, 0
        elif kind is yaml.StreamEndEvent:
            return documents or None
        elif kind is yaml.AliasEvent:
            return None


def plain_positions(text: str, max_depth: int, max_nodes: int) -> list[Tables] | None:
    """Each document's positions of values and of mapping keys, as the full builder gives
    them; None when the file is not plain (or has no C parser here): ask the builder."""
    return over_events(text, _walk, max_depth, max_nodes)
