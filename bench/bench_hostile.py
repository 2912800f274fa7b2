"""Hostile input, timed: what the tests assert as behaviour, measured against targets here.

(a) YAML bombs (billion laughs, merge-key bomb): refused in < 0.75 s each.
(b) CEL at the cost budget: for each costly shape of expression (nested comprehensions
    over data, lists built by `map`, string growth), the data is grown until the
    bound just fits policy.cost.BUDGET, and one evaluation is timed (target < 2 s):
    what the bound lets through must stay cheap, since an evaluation cannot be stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cel

from bench import Config, Result, below
from reconciler.errors import SpecError
from reconciler.policy import celparse
from reconciler.policy.cost import BUDGET, bound
from reconciler.policy.sizes import measure
from reconciler.spec.yamlsafe import load_documents

YAML_TARGET_S = 0.75
CEL_TARGET_S = 2.0

_LAUGHS = b"a: &a [x,x,x,x,x,x,x,x,x]\n" + b"".join(
    b"%c: &%c [%s]\n" % (c, c, b",".join([b"*%c" % (c - 1)] * 9)) for c in range(ord("b"), 106)
)
_MERGES = b"l0: &l0 {}\n" + b"".join(
    b"l%d: &l%d {<<: [%s]}\n" % (i, i, b",".join([b"*l%d" % (i - 1)] * 10)) for i in range(1, 9)
)

Make = Callable[[int], dict[str, Any]]
_CEL: dict[str, tuple[str, Make]] = {
    "nested comprehensions": (
        "object.l.all(a, object.l.all(b, object.l.all(c, a + b + c >= 0)))",
        lambda n: {"l": list(range(n))},
    ),
    "lists built by map": (
        "object.l.map(a, object.l).all(x, x.all(y, y >= 0))",
        lambda n: {"l": list(range(n))},
    ),
    "map of maps": ("object.l.map(a, {'k': a}).size() > 0", lambda n: {"l": list(range(n))}),
    "string growth": (
        "object.l.all(a, size(" + " + ".join(["object.s"] * 40) + ") > 0)",
        lambda n: {"l": list(range(n)), "s": "x" * 5000},
    ),
    "variable read in a body": (
        "object.l.all(a, object.m.size() > 0)",
        lambda n: {"l": list(range(n)), "m": list(range(n))},
    ),
}


def _yaml(name: str, raw: bytes) -> Result:
    started = time.perf_counter()
    try:
        load_documents("bomb.yaml", raw)
        refused = False
    except SpecError:
        refused = True
    elapsed = time.perf_counter() - started
    return below(f"yaml {name} refused", elapsed, "s", YAML_TARGET_S, f"refused: {refused}")


def _largest_within_budget(expression: str, make: Make) -> int:
    tree = celparse.parse(expression)

    def fits(n: int) -> bool:
        return bound(tree, {"object": measure([make(n)])}) <= BUDGET

    n = 1
    while fits(n * 2):
        n *= 2
    step = max(1, n // 16)
    while fits(n + step):
        n += step
    return n


def _cel(name: str, expression: str, make: Make) -> Result:
    n = _largest_within_budget(expression, make)
    data = make(n)
    units = bound(celparse.parse(expression), {"object": measure([data])})
    program = cel.compile(expression)
    started = time.perf_counter()
    program.execute({"object": data})
    elapsed = time.perf_counter() - started
    note = f"n={n}, bound {units:,} of {BUDGET:,} units"
    return below(f"cel at budget: {name}", elapsed, "s", CEL_TARGET_S, note)


def run(config: Config) -> list[Result]:
    del config
    results = [_yaml("billion laughs", _LAUGHS), _yaml("merge-key bomb", _MERGES)]
    results += [_cel(name, expr, make) for name, (expr, make) in _CEL.items()]
    return results
