"""Drift: what an environment's target holds that git does not say, in reviewer words. Pure.

Content is compared, not only revision fields: a bundle edited in place under an
unchanged `revision` no longer hashes to it, and is drift (`alm apply` repairs it). Per
agent, one of:

- `edited`: the live content no longer hashes to its revision (changed outside alm);
- `changed`: an intact bundle of another revision than the desired one;
- `missing`: desired here, not on the target;
- `unknown`: on the target, not in the desired state (unknown to git);
- `unreadable`: the target holds something under the agent's name that is not its
  bundle (a truncated or foreign file: `Unreadable`), named with what is wrong.

Ignore rules (environments.yaml `drift.ignore`: `content.model.params.temperature`, `*`
for any one key or list index) drop differences at or below those paths; an agent whose
every difference is ignored is not drift (it is listed in `ignored`). An intact bundle
pinned by a rollback is not drift either: the pin says why it differs (in `pinned`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.deploy.model import Bundle, Live, Unreadable

DriftKind = Literal["edited", "changed", "missing", "unknown", "unreadable"]
MAX_DEPTH = 64  # deeper than this, values are compared whole (target content is untrusted)
MAX_SHOWN = 20  # differences listed per agent; the rest are counted


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Difference:
    path: str  # content.model.params.temperature; list items by index: content.tools.0.risk
    live: Any  # ABSENT when the target lacks it
    desired: Any  # ABSENT when git lacks it

    def words(self) -> str:
        if self.live is ABSENT:
            return f"{self.path}: not on the target; in git {_shown(self.desired)}"
        if self.desired is ABSENT:
            return f"{self.path}: {_shown(self.live)} on the target; not in git"
        return f"{self.path}: {_shown(self.live)} on the target, {_shown(self.desired)} in git"


@dataclass(frozen=True)
class DriftItem:
    agent: str
    kind: DriftKind
    live: str | None  # the live revision
    desired: str | None
    differences: tuple[Difference, ...] = ()
    more: int = 0  # differences found beyond those listed
    detail: str = ""  # unreadable: which entry, and what is wrong with it

    def summary(self) -> str:
        return SUMMARIES[self.kind](self)


SUMMARIES = {
    "edited": lambda i: f"edited in place outside alm: its content no longer matches {i.live}",
    "changed": lambda i: f"live revision {i.live} is not the desired {i.desired}",
    "missing": lambda i: f"missing: {i.desired} is desired here but not on the target",
    "unknown": lambda i: f"unknown to git: {i.live} is on the target but not desired here",
    "unreadable": lambda i: (
        f"unreadable on the target: {i.detail}; "
        + (f"alm apply writes {i.desired} over it" if i.desired else "not desired here")
    ),
}


@dataclass(frozen=True)
class DriftReport:
    environment: str
    items: tuple[DriftItem, ...]
    pinned: tuple[str, ...] = ()  # agents left differing on purpose by a rollback pin
    ignored: tuple[str, ...] = ()  # agents whose every difference is ignored

    @property
    def drifted(self) -> bool:
        return bool(self.items)


def detect(
    environment: str,
    desired: Mapping[str, Bundle],
    live: Mapping[str, Live],
    ignore: Sequence[str] = (),
    unreadable: Mapping[str, Unreadable] | None = None,
) -> DriftReport:
    """`unreadable`: what the target holds that is not a bundle (Scan.unreadable): always
    drift, whatever the ignore rules (there is no content to compare)."""
    rules = [rule.split(".") for rule in ignore]
    items: list[DriftItem] = []
    pinned: list[str] = []
    ignored: list[str] = []
    broken = unreadable or {}
    for agent in sorted(set(desired) | set(live) | set(broken)):
        want, have = desired.get(agent), live.get(agent)
        if have is None and agent in broken:
            revision = want.revision if want else None
            detail = broken[agent].words()
            items.append(DriftItem(agent, "unreadable", None, revision, detail=detail))
            continue
        if have is None:
            assert want is not None  # in the union
            items.append(DriftItem(agent, "missing", None, want.revision))
            continue
        kind = _kind(have.bundle, want)
        if kind is None:
            if have.bundle.pin is not None:
                pinned.append(agent)
            continue
        every = _differences(have.bundle, want)
        found = [d for d in every if not _ignored(d.path, rules)]
        if every and not found and want is not None:
            ignored.append(agent)
            continue
        revision = want.revision if want else None
        items.append(
            DriftItem(
                agent,
                kind,
                have.bundle.revision,
                revision,
                tuple(found[:MAX_SHOWN]),
                max(len(found) - MAX_SHOWN, 0),
            )
        )
    return DriftReport(environment, tuple(items), tuple(pinned), tuple(ignored))


def _kind(have: Bundle, want: Bundle | None) -> DriftKind | None:
    if not have.intact:
        return "edited"
    if want is None:
        return "unknown"
    if have.revision == want.revision or have.pin is not None:
        return None
    return "changed"


def _differences(have: Bundle, want: Bundle | None) -> list[Difference]:
    desired = want.content if want is not None else ABSENT
    return list(_walk("content", have.content, desired, 0))


def _walk(path: str, live: Any, desired: Any, depth: int) -> Iterator[Difference]:
    if depth < MAX_DEPTH and isinstance(live, dict) and isinstance(desired, dict):
        for key in sorted(set(live) | set(desired), key=str):
            yield from _walk(
                f"{path}.{key}", live.get(key, ABSENT), desired.get(key, ABSENT), depth + 1
            )
    elif depth < MAX_DEPTH and isinstance(live, list) and isinstance(desired, list):
        for index in range(max(len(live), len(desired))):
            left = live[index] if index < len(live) else ABSENT
            right = desired[index] if index < len(desired) else ABSENT
            yield from _walk(f"{path}.{index}", left, right, depth + 1)
    elif live is ABSENT or desired is ABSENT or not _same(live, desired):
        yield Difference(path, live, desired)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 and 1.0 are the same number, but true is not 1."""
    return (type(a) is type(b) and a == b) or (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def _ignored(path: str, rules: Sequence[Sequence[str]]) -> bool:
    """At or below an ignore rule's path (`*` matches any one key or index)."""
    parts = path.split(".")
    return any(
        len(rule) <= len(parts) and all(r in ("*", p) for r, p in zip(rule, parts, strict=False))
        for rule in rules
    )


def _shown(value: Any) -> str:
    """A value as a reviewer reads it: short JSON, long text counted, not dumped."""
    if isinstance(value, str) and len(value) > 60:
        return f"a text of {len(value)} characters"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 60 else f"{text[:57]}..."
