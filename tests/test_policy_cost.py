"""The cost bound of policy expressions: sizes measured per variable and depth, nesting."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.policy import celparse
from reconciler.policy.cost import BUDGET, MAX_NESTED, bound, nesting
from reconciler.policy.sizes import Sizes, _measure_iteratively, measure


def cost(expression: str, **variables: object) -> int:
    sizes = {name: measure([value]) for name, value in variables.items()}
    return bound(celparse.parse(expression), sizes)


def test_sizes_are_per_exact_depth() -> None:
    sizes = measure([{"tools": [{"name": "a"}] * 3, "scope": {"out": ["x"] * 50}}])
    assert sizes.at(0)[0] == 2  # the object's two fields
    assert sizes.at(1)[0] == 3  # the tools list (the scope map has one key)
    assert sizes.at(2)[0] == 50  # scope.out, two levels down, not one
    assert sizes.at(99) == sizes.at(7)  # the last level stands for every deeper one


def test_measuring_deep_data_does_not_recurse() -> None:
    deep: object = "leaf"
    for _ in range(50_000):
        deep = [deep]
    assert measure([deep]).at(7)[0] == 1


def test_the_bound_grows_with_the_lists_iterated_and_nesting() -> None:
    short = {"tools": [{"name": "a"}] * 5}
    long = {"tools": [{"name": "a"}] * 500}
    one = "object.tools.all(t, t.name != '')"
    two = "object.tools.all(a, object.tools.all(b, a.name != b.name))"
    assert cost(one, object=short) < cost(one, object=long) < BUDGET
    assert cost(two, object=short) < BUDGET < cost(two, object=long)


def test_a_long_list_at_another_depth_does_not_inflate_another() -> None:
    """Sizes are per depth, not per path: a long list only counts where it could be."""
    data = {"tools": [{"name": "a"}] * 5, "contract": {"out": ["x"] * 5000}}
    two = "object.tools.all(a, object.tools.all(b, a.name != b.name))"
    assert cost(two, object=data) < BUDGET // 100


def test_built_values_are_bounded_too() -> None:
    """map builds lists as long as its range; comprehending them again multiplies."""
    data = {"tools": list(range(200))}
    built = "object.tools.map(a, object.tools).all(l, l.all(b, b >= 0))"
    assert cost(built, object=data) > 200 * 200
    grown = "object.tools.all(a, size(" + " + ".join(["object.name"] * 50) + ") > 0)"
    small = cost(grown, object={"tools": [1] * 100, "name": "n"})
    big = cost(grown, object={"tools": [1] * 100, "name": "n" * 100_000})
    assert big > 100 * 50 * 100_000 // 8 > small


def test_literals_count_as_written() -> None:
    literal = "[" + ",".join(["1"] * 300) + "]"
    expression = f"{literal}.all(x, {literal}.all(y, {literal}.all(z, x + y + z > 0)))"
    assert cost(expression) > 300**3 > BUDGET
    assert cost("[1, 2, 3].all(x, x > 0)") < 100


def test_nesting_is_counted_in_bodies_not_in_ranges() -> None:
    assert nesting(celparse.parse("a.map(x, x).map(y, y).all(z, z)")) == (1, -1)
    four = celparse.parse("a.all(w, b.all(x, c.all(y, d.all(z, true))))")
    deepest, where = nesting(four)
    assert deepest == MAX_NESTED + 1 and where > 0


def test_empty_sizes_bound_only_the_literals() -> None:
    tree = celparse.parse("object.tools.all(a, object.tools.all(b, a == b))")
    assert bound(tree, {"object": Sizes()}) < 100


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=60,
    )
)
def test_the_fast_walk_measures_what_the_iterative_walk_measures(value: object) -> None:
    assert measure([value, value]) == _measure_iteratively([value, value])
