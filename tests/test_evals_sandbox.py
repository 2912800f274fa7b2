from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.evals.runners.functions import (
    function_definitions,
    function_name,
    tool_name,
    user_message,
)
from reconciler.evals.sandbox import Sandbox, find_grant, granted_tools, subset_match
from reconciler.spec.catalog import Tool
from tests.evals_support import agent, case, catalog


def sandbox() -> Sandbox:
    return Sandbox(agent(), catalog(), case().fixtures)


def kinds(call_violations: tuple[object, ...]) -> list[str]:
    return [v.kind for v in call_violations]  # type: ignore[attr-defined]


def test_a_matching_fixture_answers() -> None:
    call = sandbox().call("c1", "ticketing.get_ticket", {"ticket_id": "TCK-1"})
    assert call.result == {"body": "x"} and call.error is None and call.succeeded


def test_a_fixture_with_error_answers_with_that_error() -> None:
    call = sandbox().call("c1", "ticketing.get_ticket", {"ticket_id": "TCK-2"})
    assert call.error == "not found" and call.violations == () and not call.succeeded


def test_no_matching_fixture_is_an_error_not_a_violation() -> None:
    call = sandbox().call("c1", "ticketing.get_ticket", {"ticket_id": "TCK-9"})
    assert call.error is not None and call.error.startswith("no fixture")
    assert call.violations == ()


def test_first_matching_fixture_wins_and_subset_matching() -> None:
    box = sandbox()
    denied = box.call("c1", "human.escalate", {"summary": "a dispute", "reason": "deny"})
    handed = box.call("c2", "human.escalate", {"summary": "a dispute", "reason": "dispute"})
    assert denied.error == "approval denied" and handed.result == {"handed_to": "tier2"}
    assert denied.approval_requested and handed.approval_requested
    assert subset_match({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3})
    assert not subset_match({"a": True}, {"a": 1})
    assert not subset_match({"a": 1}, {})


def test_ungranted_and_unknown_tools_are_violations() -> None:
    box = sandbox()
    call = box.call("c1", "crm.update_record", {"id": "1"})
    assert kinds(call.violations) == ["ungranted"] and call.error and call.result is None
    unknown = box.call("c2", "crm.delete_everything", {})
    assert kinds(unknown.violations) == ["ungranted"]
    assert "not in the catalog" in unknown.violations[0].message


def test_wildcard_grant_covers_its_system() -> None:
    the_agent = agent()
    grant = find_grant(the_agent.grants, "billing.get_invoice")
    assert grant is not None and grant.name == "billing.*"
    call = sandbox().call("c1", "billing.get_invoice", {"invoice_id": "I-1"})
    assert call.violations == () and call.error is not None  # granted; no fixture


def test_must_never_forbids_even_a_granted_tool() -> None:
    call = sandbox().call("c1", "billing.issue_refund", {"amount": 10})
    assert kinds(call.violations) == ["must_never"]
    assert call.violations[0].rule == "no-refunds"
    assert call.result is None and "refused by the sandbox" in (call.error or "")


def test_schema_failures_are_argument_violations() -> None:
    box = sandbox()
    bad = box.call("c1", "ticketing.get_ticket", {"ticket_id": "nope", "extra": 1})
    assert kinds(bad.violations) == ["arguments", "arguments"]
    missing = box.call("c2", "ticketing.get_ticket", {})
    assert kinds(missing.violations) == ["arguments"]
    not_object = box.call("c3", "ticketing.get_ticket", "TCK-1")
    assert kinds(not_object.violations) == ["arguments"] and not_object.arguments == {
        "_raw": "TCK-1"
    }


def test_grant_constraints_are_checked_including_defaults() -> None:
    box = sandbox()
    args = {"ticket_id": "T", "queue": "tech", "priority": 2, "visibility": "internal"}
    ok = box.call("c1", "ticketing.update_ticket", args)
    assert ok.succeeded and ok.result == {"ok": True}
    legal = box.call("c2", "ticketing.update_ticket", {**args, "queue": "legal"})
    assert kinds(legal.violations) == ["constraint"] and "enum" in legal.violations[0].message
    # omitted visibility defaults to "public" in the schema, which breaks const: internal
    default = box.call("c3", "ticketing.update_ticket", {"ticket_id": "T", "priority": 5})
    assert kinds(default.violations) == ["constraint", "constraint"]
    messages = " ".join(v.message for v in default.violations)
    assert "maximum" in messages and "const" in messages


def test_function_names_round_trip_and_constraints_are_shown_to_the_model() -> None:
    assert function_name("crm.update_record") == "crm__update_record"
    assert tool_name("crm__update_record") == "crm.update_record"
    assert tool_name("crm.update_record") == "crm.update_record"
    definitions = function_definitions(agent(), catalog())
    names = [d["function"]["name"] for d in definitions]
    assert names == [
        "billing__get_invoice",
        "billing__issue_refund",
        "human__escalate",
        "ticketing__get_ticket",
        "ticketing__update_ticket",
    ]
    update = definitions[-1]["function"]["parameters"]["properties"]
    assert update["queue"]["enum"] == ["billing", "tech"] and update["visibility"]["const"] == (
        "internal"
    )
    assert catalog()["ticketing.update_ticket"].parameters["properties"]["queue"]["enum"][-1] == (
        "legal"
    )  # the catalog itself is untouched


def test_user_message_carries_the_context_as_json() -> None:
    message = user_message(case().input)
    assert message["role"] == "user"
    assert message["content"].endswith('Context (JSON):\n{"channel":"email"}')


def test_not_pattern_refuses_a_value_that_contains_a_match_and_is_shown_as_not() -> None:
    card = {"not_pattern": r"\b(?:\d[ -]?){12,18}\d\b"}
    grant = {"name": "ticketing.update_ticket", "constraints": {"visibility": card}}
    hardened = agent(tools=["ticketing.get_ticket", grant])
    box = Sandbox(hardened, catalog(), case().fixtures)
    pasted = box.call(
        "c1", "ticketing.update_ticket", {"ticket_id": "T", "visibility": "4111 1111 1111 1111"}
    )
    assert kinds(pasted.violations) == ["constraint"]
    assert "breaks the grant's not_pattern: expected no match" in pasted.violations[0].message
    assert box.call("c2", "ticketing.update_ticket", {"ticket_id": "T"}).succeeded
    (update,) = [d for d in function_definitions(hardened, catalog()) if "update" in str(d)]
    assert update["function"]["parameters"]["properties"]["visibility"]["not"] == {
        "pattern": card["not_pattern"]
    }


def test_a_tool_schema_that_would_fetch_refuses_the_call_and_fetches_nothing() -> None:
    tools = catalog()
    remote = {"type": "object", "properties": {"ticket_id": {"$ref": "http://127.0.0.1:9/t"}}}
    tools["ticketing.get_ticket"] = tools["ticketing.get_ticket"].model_copy(
        update={"parameters": remote}
    )
    call = Sandbox(agent(), tools, case().fixtures).call(
        "c1", "ticketing.get_ticket", {"ticket_id": "TCK-1"}
    )
    assert kinds(call.violations) == ["arguments"]
    assert "arguments cannot be checked" in call.violations[0].message


_TOOLS = ["crm.get", "crm.put", "billing.refund", "crmx.get", "a.b"]
_GRANTS = st.sampled_from([*_TOOLS, "crm.*", "billing.*", "crmx.*", "a.*", "b.*"])


@settings(max_examples=300, deadline=None, database=None)
@given(
    grants=st.lists(_GRANTS, max_size=5, unique=True),
    tools=st.sets(st.sampled_from(_TOOLS), max_size=5),
)
def test_granted_tools_are_the_tools_find_grant_finds_a_grant_for(
    grants: list[str], tools: set[str]
) -> None:
    base = catalog()["ticketing.get_ticket"].model_dump(by_alias=True)
    the_catalog = {
        name: Tool.model_validate({**base, "name": name, "system": name.split(".")[0]})
        for name in tools
    }
    the_agent = agent(tools=grants)
    expected = [
        the_catalog[name]
        for name in sorted(the_catalog)
        if find_grant(the_agent.grants, name) is not None
    ]
    assert granted_tools(the_agent, the_catalog) == expected
