"""The desired-vs-live plan: each kind of action, promotion order, pins, idempotence."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.deploy.model import Bundle, Deployment, DeployPlan, Live, Pin, revision_of
from reconciler.deploy.plan import UNMANAGED, plan

WHO = Deployment(at="2025-01-01T00:00:00Z", by="alice", commit="abc")


def bundle(agent: str, text: str, env: str = "prod") -> Bundle:
    content = {"name": agent, "prompt": {"text": text}}
    return Bundle(agent=agent, environment=env, revision=revision_of(content), content=content)


def live(b: Bundle) -> Live:
    return Live(b, "v-" + b.revision[-8:])


def tampered(b: Bundle) -> Bundle:
    """Edited in place: the content changed under the same revision."""
    return b.model_copy(update={"content": {**b.content, "prompt": {"text": "evil"}}})


def pinned(b: Bundle, revision: str) -> Bundle:
    return b.model_copy(update={"pin": Pin(revision=revision, at="t", by="bob", reason="bad")})


def kinds(p: DeployPlan) -> dict[str, str]:
    return {a.agent: a.kind for a in p.actions}


def test_create_update_unchanged_in_name_order() -> None:
    desired = {n: bundle(n, "v2") for n in ("c", "a", "b")}
    current = {"a": live(bundle("a", "v1")), "b": live(bundle("b", "v2"))}
    p = plan("prod", desired, current)
    assert [(a.agent, a.kind) for a in p.actions] == [
        ("a", "update"), ("b", "unchanged"), ("c", "create"),
    ]  # fmt: skip
    update = p.actions[0]
    assert (update.before, update.after) == (current["a"].bundle.revision, desired["a"].revision)
    assert update.bundle is desired["a"]
    assert [a.agent for a in p.changes] == ["a", "c"] and not p.empty


def test_who_deployed_is_not_a_change() -> None:
    b = bundle("a", "v1")
    deployed = b.model_copy(update={"deployment": WHO})
    assert plan("prod", {"a": b}, {"a": live(deployed)}).empty


def test_a_bundle_edited_in_place_is_repaired() -> None:
    b = bundle("a", "v1")
    p = plan("prod", {"a": b}, {"a": live(tampered(b))})
    (action,) = p.actions
    assert action.kind == "repair" and action.bundle is b
    assert "edited in place" in action.reason


def test_live_agents_not_desired_are_kept_unless_pruned() -> None:
    current = {"old": live(bundle("old", "v1"))}
    (kept,) = plan("prod", {}, current).actions
    assert kept.kind == "unchanged" and kept.reason == UNMANAGED
    (gone,) = plan("prod", {}, current, prune=True).actions
    assert gone.kind == "delete" and gone.before == current["old"].bundle.revision


def test_a_pin_to_another_revision_is_left_alone() -> None:
    old, new = bundle("a", "v1"), bundle("a", "v2")
    current = {"a": live(pinned(old, old.revision))}
    (action,) = plan("prod", {"a": new}, current, prune=True).actions
    assert action.kind == "pinned" and action.bundle is None
    assert "pinned to " + old.revision[:19] in action.reason and "bob" in action.reason
    assert "unpin" in action.reason
    (unwanted,) = plan("prod", {}, current, prune=True).actions
    assert unwanted.kind == "pinned"  # prune does not delete a pinned agent


def test_a_pin_is_lifted_when_the_desired_revision_reaches_it() -> None:
    old = bundle("a", "v1")
    current = {"a": live(pinned(old, old.revision))}
    (action,) = plan("prod", {"a": old}, current).actions
    assert action.kind == "update" and "pin lifted" in action.reason
    assert action.bundle is not None and action.bundle.pin is None


def test_promotion_order_holds_what_the_previous_environment_has_not() -> None:
    new = bundle("a", "v2")
    before = live(bundle("a", "v1"))
    cases: dict[str, Mapping[str, Live]] = {
        "not deployed there": {},
        "another revision there": {"a": live(bundle("a", "v1", "staging"))},
        "edited in place there": {"a": live(tampered(bundle("a", "v2", "staging")))},
    }
    for why, previous in cases.items():
        for current in ({}, {"a": before}):
            (action,) = plan("prod", {"a": new}, current, previous=previous).actions
            assert action.kind == "held", why
            assert action.after == new.revision and action.bundle is None
            assert "promotion order" in action.reason
    there = {"a": live(bundle("a", "v2", "staging"))}
    assert kinds(plan("prod", {"a": new}, {}, previous=there)) == {"a": "create"}
    assert kinds(plan("prod", {"a": new}, {"a": before}, previous=there)) == {"a": "update"}
    (action,) = plan("prod", {"a": new}, {}, previous=cases["another revision there"]).actions
    assert "staging" in action.reason


def test_an_edit_in_place_of_the_admitted_revision_is_repaired_even_when_held() -> None:
    b = bundle("a", "v1")
    p = plan("prod", {"a": b}, {"a": live(tampered(b))}, previous={})
    assert kinds(p) == {"a": "repair"}


def test_a_held_tampered_bundle_is_warned_about() -> None:
    p = plan("prod", {"a": bundle("a", "v2")}, {"a": live(tampered(bundle("a", "v1")))},
             previous={})  # fmt: skip
    assert kinds(p) == {"a": "held"} and "edited in place" in p.warnings[0]


# --- idempotence: applying a plan's actions, then planning again, plans nothing ----------


def apply(p: DeployPlan, current: dict[str, Live]) -> dict[str, Live]:
    after = dict(current)
    for action in p.actions:
        if action.kind in ("create", "update", "repair"):
            assert action.bundle is not None
            written = action.bundle.model_copy(update={"deployment": WHO})
            after[action.agent] = Live(written, "v2-" + action.agent)
        elif action.kind == "delete":
            del after[action.agent]
    return after


AGENTS = ["a", "b", "c", "d"]
TEXTS = st.sampled_from(["v1", "v2", "v3"])


@st.composite
def states(draw: st.DrawFn) -> tuple[dict[str, Bundle], dict[str, Live], dict[str, Live] | None]:
    desired = {a: bundle(a, draw(TEXTS)) for a in AGENTS if draw(st.booleans())}
    current: dict[str, Live] = {}
    for a in AGENTS:
        state = draw(st.sampled_from(["absent", "plain", "tampered", "pinned", "pinned-here"]))
        if state == "absent":
            continue
        b = bundle(a, draw(TEXTS))
        if state == "tampered":
            b = tampered(b)
        elif state == "pinned":
            b = pinned(b, b.revision)
        elif state == "pinned-here" and a in desired:
            b = pinned(b, desired[a].revision)
        current[a] = live(b)
    previous = None
    if draw(st.booleans()):
        previous = {a: live(bundle(a, draw(TEXTS), "staging")) for a in AGENTS}
    return desired, current, previous


@settings(max_examples=300, deadline=None)
@given(states(), st.booleans())
def test_plan_after_applying_a_plan_is_empty(
    s: tuple[dict[str, Bundle], dict[str, Live], dict[str, Live] | None], prune: bool
) -> None:
    desired, current, previous = s
    first = plan("prod", desired, current, prune=prune, previous=previous)
    assert sorted(a.agent for a in first.actions) == sorted(set(desired) | set(current))
    after = apply(first, current)
    second = plan("prod", desired, after, prune=prune, previous=previous)
    assert second.empty, second.changes
    assert [(a.agent, a.kind) for a in second.actions if a.kind in ("held", "pinned")] == [
        (a.agent, a.kind) for a in first.actions if a.kind in ("held", "pinned")
    ]
    for action in second.actions:
        if action.kind == "unchanged" and action.agent in desired:
            assert after[action.agent].bundle.revision == desired[action.agent].revision
