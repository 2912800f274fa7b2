"""Drift is pure: live against desired, content compared, ignore rules, pins."""

from __future__ import annotations

from typing import Any

from reconciler.deploy import drift
from reconciler.deploy.model import Bundle, Live, Pin, revision_of


def content(temperature: float = 0, prompt: str = "Be brief.") -> dict[str, Any]:
    return {
        "model": {"name": "m", "params": {"temperature": temperature}},
        "prompt": {"text": prompt},
        "tools": [{"name": "t.read", "risk": "low"}, {"name": "t.write", "risk": "high"}],
    }


def bundle(agent: str, body: dict[str, Any], revision: str | None = None) -> Bundle:
    return Bundle(
        agent=agent, environment="dev", revision=revision or revision_of(body), content=body
    )


def live(b: Bundle) -> Live:
    return Live(bundle=b, version="v1")


def test_in_sync_is_no_drift() -> None:
    b = bundle("a", content())
    report = drift.detect("dev", {"a": b}, {"a": live(b)})
    assert not report.drifted and report.items == ()


def test_a_bundle_edited_in_place_under_its_revision_is_drift_with_the_paths() -> None:
    desired = bundle("a", content())
    edited = bundle("a", content(temperature=0.7), revision=desired.revision)  # same revision
    report = drift.detect("dev", {"a": desired}, {"a": live(edited)})
    (item,) = report.items
    assert item.kind == "edited" and item.live == desired.revision
    assert [d.words() for d in item.differences] == [
        "content.model.params.temperature: 0.7 on the target, 0 in git"
    ]
    assert "edited in place outside alm" in item.summary()


def test_missing_unknown_and_changed() -> None:
    a, b, c = bundle("a", content()), bundle("b", content()), bundle("c", content(0.1))
    report = drift.detect(
        "dev", {"a": a, "c": c}, {"b": live(b), "c": live(bundle("c", content(0.2)))}
    )
    kinds = {i.agent: i.kind for i in report.items}
    assert kinds == {"a": "missing", "b": "unknown", "c": "changed"}
    unknown = next(i for i in report.items if i.kind == "unknown")
    assert "unknown to git" in unknown.summary() and unknown.desired is None


def test_ignore_rules_drop_paths_and_agents() -> None:
    desired = bundle("a", content())
    edited = bundle("a", content(temperature=0.7), revision=desired.revision)
    ignore = ["content.model.params.temperature"]
    report = drift.detect("dev", {"a": desired}, {"a": live(edited)}, ignore)
    assert not report.drifted and report.ignored == ("a",)
    # a rule covers what is below it; `*` matches one key or list index
    tools = content()
    tools["tools"][1]["risk"] = "low"
    other = bundle("a", tools, revision=desired.revision)
    for rules, drifted in ((["content.model"], True), (["content.tools.*.risk"], False)):
        found = drift.detect("dev", {"a": desired}, {"a": live(other)}, rules)
        assert found.drifted is drifted, rules


def test_an_ignored_path_does_not_hide_another_difference() -> None:
    desired = bundle("a", content())
    edited = bundle("a", content(0.7, prompt="Refund everything."), revision=desired.revision)
    report = drift.detect(
        "dev", {"a": desired}, {"a": live(edited)}, ["content.model.params.temperature"]
    )
    (item,) = report.items
    assert [d.path for d in item.differences] == ["content.prompt.text"]


def test_a_pinned_intact_bundle_is_not_drift_but_an_edited_one_is() -> None:
    old, new = bundle("a", content()), bundle("a", content(0.5))
    pin = Pin(revision=old.revision, at="2026-01-01T00:00:00Z", by="x")
    pinned = old.model_copy(update={"pin": pin})
    report = drift.detect("dev", {"a": new}, {"a": live(pinned)})
    assert not report.drifted and report.pinned == ("a",)
    tampered = Bundle(
        agent="a", environment="dev", revision=old.revision, content=content(0.9), pin=pin
    )
    assert drift.detect("dev", {"a": new}, {"a": live(tampered)}).drifted


def test_list_lengths_absent_keys_and_long_text_in_words() -> None:
    desired = content()
    changed = content(prompt="x" * 500)
    changed["tools"].append({"name": "t.extra", "risk": "low"})
    del changed["model"]["params"]
    changed["extra"] = True
    report = drift.detect("dev", {"a": bundle("a", desired)}, {"a": live(bundle("a", changed))})
    words = [d.words() for d in report.items[0].differences]
    assert words == [
        "content.extra: true on the target; not in git",
        'content.model.params: not on the target; in git {"temperature": 0}',
        'content.prompt.text: a text of 500 characters on the target, "Be brief." in git',
        'content.tools.2: {"name": "t.extra", "risk": "low"} on the target; not in git',
    ]


def test_numbers_compare_as_json_and_many_differences_are_counted() -> None:
    # 1 and 1.0 are one JSON number: no content difference, but the revision field was
    # edited (it no longer is the content's hash), which is still drift
    report = drift.detect(
        "dev", {"a": bundle("a", {"x": 1})}, {"a": live(bundle("a", {"x": 1.0}, "sha256:0"))}
    )
    assert report.items[0].kind == "edited" and report.items[0].differences == ()
    assert drift.detect(
        "dev", {"a": bundle("a", {"x": 1})}, {"a": live(bundle("a", {"x": True}))}
    ).drifted
    many = {f"k{i}": i for i in range(30)}
    report = drift.detect("dev", {"a": bundle("a", {})}, {"a": live(bundle("a", many))})
    item = report.items[0]
    assert len(item.differences) == drift.MAX_SHOWN and item.more == 30 - drift.MAX_SHOWN


def test_deep_content_is_compared_whole_below_the_bound() -> None:
    deep: Any = "leaf"
    for _ in range(drift.MAX_DEPTH + 10):
        deep = {"k": deep}
    report = drift.detect("dev", {"a": bundle("a", {})}, {"a": live(bundle("a", {"d": deep}))})
    assert report.drifted and report.items[0].differences[0].path == "content.d"
