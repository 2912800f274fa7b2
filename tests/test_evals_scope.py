"""What an eval covers, on the mini fleet held in memory (tests/test_spec_minifleet.py)."""

from __future__ import annotations

import pytest

from reconciler.errors import UsageError
from reconciler.evals.results import Selection
from reconciler.evals.scope import Unevaluated, case_matches, check_selection, scope
from reconciler.spec.loader import load_snapshot
from reconciler.spec.state import DesiredState
from tests.test_spec_minifleet import AGENT, AGENT_YAML, mini_snapshot

SECOND = "agents/second/agent.yaml"


def _state(overrides: dict[str, bytes | None] | None = None) -> DesiredState:
    return load_snapshot(mini_snapshot(overrides))


def _second_agent() -> bytes:
    """A copy of helper named second, with no eval suite of its own."""
    return AGENT_YAML.replace("name: helper", "name: second").encode()


def test_the_whole_fleet_when_every_agent_loads_and_has_a_suite() -> None:
    assert scope(_state()) == scope(_state(), ["helper"])
    assert scope(_state()).agents == ("helper",) and scope(_state()).unevaluated == ()


def test_an_agent_whose_spec_does_not_load_is_named_with_the_first_error() -> None:
    state = _state({AGENT: AGENT_YAML.replace("  name: helper", "  name: [helper").encode()})
    (why,) = scope(state).unevaluated
    assert why.agent == "helper" and not why.runs
    assert why.reason.startswith("not evaluated: its spec does not load: agents/helper/agent.yaml:")
    assert scope(state).agents == ()


def test_an_agent_with_no_suite_still_runs_and_is_named() -> None:
    state = _state({SECOND: _second_agent(), "agents/second/prompts/system.md": b"Help.\n"})
    result = scope(state)
    assert result.agents == ("helper", "second")
    assert result.unevaluated == (
        Unevaluated(
            "second", "no eval suite; expected evals/second/*.yaml of kind EvalSuite", runs=True
        ),
    )


def test_a_suite_that_does_not_load_is_named_and_the_agent_still_runs() -> None:
    state = _state({"evals/helper/broken.yaml": b"apiVersion: alm/v1\nkind: [\n"})
    (why,) = scope(state).unevaluated
    assert why.runs and why.reason.startswith(
        "an eval suite does not load: evals/helper/broken.yaml:"
    )
    assert scope(state).agents == ("helper",)


def test_an_unknown_agent_is_a_usage_error_listing_the_agents() -> None:
    with pytest.raises(UsageError, match=r"no agent named nobody; agents: helper$"):
        scope(_state(), ["nobody"])


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [("routes-*", True), ("basic/routes-*", True), ("other/routes-*", False), ("basic", False)],
)
def test_case_patterns_match_the_id_or_suite_slash_id(pattern: str, matches: bool) -> None:
    assert case_matches(pattern, "basic", "routes-billing") is matches


def test_a_selection_of_nothing_is_a_usage_error_naming_what_exists() -> None:
    state = _state()
    check_selection(state, ["helper"], Selection(cases=("basic/*",)))  # selects: no error
    check_selection(state, [], Selection(cases=("nope",)))  # no agent: an empty run
    with pytest.raises(UsageError, match=r"--case nope matches no case of helper; cases: basic/"):
        check_selection(state, ["helper"], Selection(cases=("nope",)))
    with pytest.raises(UsageError, match=r"--tag x is on no case of helper; tags: none$"):
        check_selection(state, ["helper"], Selection(tags=("x",)))


def test_the_folder_index_files_errors_as_a_prefix_scan_would() -> None:
    from reconciler.errors import Finding, Location
    from reconciler.evals.scope import _Index
    from reconciler.spec.state import DesiredState

    files = ["agents/a/agent.yaml", "agents/ab/agent.yaml", "agents/a/x/y.md", "agents/a",
             "evals/a/s.yaml", "evals/ab/s.yaml", "policies/p.yaml", "agents//o.yaml"]  # fmt: skip
    state = DesiredState("t", findings=[Finding("x", f, Location(f, 1, 1)) for f in files[::-1]])
    index = _Index.of(state)
    for prefix in ("agents/a/", "agents/ab/", "evals/a/", "evals/ab/", "agents//", "evals/p/"):
        scan = sorted(
            (f for f in state.errors if f.location.file.startswith(prefix)), key=Finding.sort_key
        )
        assert index.errors.get(prefix, []) == scan, prefix
