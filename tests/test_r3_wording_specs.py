"""One error per mistake in a tool grant (only the branch of the grant's shape), tool
names that a provider can take as function names, and the live provider error that says
what `provider: openai` covers."""

from __future__ import annotations

import re

import pytest

from reconciler.cli import main
from reconciler.evals.providers import live_endpoint
from reconciler.evals.runners.functions import function_name
from reconciler.evals.types import ProviderError
from reconciler.spec.catalog import MAX_FUNCTION_NAME, MAX_TOOL_NAME
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import AGENT, CATALOG, SUITE

OPENAI_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _validate(repo: GitRepo, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["-C", str(repo.path), "validate"])
    out, err = capsys.readouterr()
    return code, [line for line in (out + err).splitlines() if ": error: " in line]


def test_a_mistake_inside_a_mapping_grant_is_reported_once(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mini.replace(AGENT, "      queue: {enum: [billing, tech]}", "      queue: 5\n    bogus: 1")
    code, errors = _validate(mini, capsys)
    assert code == 1
    assert errors == [
        f"{AGENT}:22:14: error: tools[1].constraints.queue: Input should be a valid "
        "dictionary or instance of Constraint [schema]",
        f"{AGENT}:23:5: error: unknown field 'bogus' in tools[1]; expected one of: "
        "constraints, name, requires_approval [unknown-field]",
    ]
    assert not any("constrained-str" in e or "valid string" in e for e in errors)


def test_a_string_grant_and_a_grant_of_neither_shape(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mini.replace(AGENT, "  - desk.get_ticket\n", "  - Desk Get\n  - 5\n")
    code, errors = _validate(mini, capsys)
    assert code == 1 and len(errors) == 2, errors
    assert errors[0].startswith(f"{AGENT}:19:5: error: tools[0]: String should match pattern")
    assert errors[1] == (
        f"{AGENT}:20:5: error: tools[1]: expected a tool name (system.action) or a mapping "
        "with name: [schema]"
    )


def test_a_tool_name_too_long_for_a_function_name_is_refused_where_it_is(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    long = "desk." + "x" * 5000
    mini.replace(CATALOG, "  - name: desk.get_ticket\n", f"  - name: {long}\n")
    code, errors = _validate(mini, capsys)
    assert code == 1
    assert errors[0] == (
        f"{CATALOG}:4:11: error: tools[0].name: the tool name is 5,005 characters; expected at "
        f"most {MAX_TOOL_NAME}: models are sent it as a function name (the dot as __), which "
        f"providers limit to {MAX_FUNCTION_NAME} characters [schema]"
    )


def test_the_longest_tool_name_allowed_is_a_valid_function_name(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    longest = "desk." + "x" * (MAX_TOOL_NAME - len("desk."))
    assert OPENAI_FUNCTION_NAME.match(function_name(longest))
    assert not OPENAI_FUNCTION_NAME.match(function_name(longest + "x"))
    mini.replace(CATALOG, "  - name: desk.get_ticket\n", f"  - name: {longest}\n")
    mini.replace(AGENT, "  - desk.get_ticket\n", f"  - {longest}\n")
    mini.replace(SUITE, "tool: desk.get_ticket", f"tool: {longest}")
    code, errors = _validate(mini, capsys)
    assert (code, errors) == (0, [])


def test_an_unknown_live_provider_says_what_openai_covers() -> None:
    with pytest.raises(ProviderError) as raised:
        live_endpoint("acme")
    assert str(raised.value) == (
        "no live model provider named 'acme'; known: openai (any OpenAI-compatible endpoint: "
        "set ALM_OPENAI_BASE_URL)"
    )
