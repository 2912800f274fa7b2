"""A production task as an eval case (reconciler.ops.promote, reconciler.ops.mask): the case
loads as the loader reads suites, replays the recorded calls, carries what went wrong,
is marked for review, and holds nothing a must-never output pattern matches."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from reconciler.ops.mask import Masker, masker_for, placeholder
from reconciler.ops.model import NS_PER_S, Task, ToolUse
from reconciler.ops.online import to_result
from reconciler.ops.promote import (
    NO_INPUT,
    SUITE,
    case_from_task,
    case_id,
    case_yaml,
    group_failures,
    signature,
    suite_header,
)
from reconciler.pricing import PriceBook
from reconciler.spec.agent import Agent
from reconciler.spec.evalsuite import EvalSuite
from reconciler.spec.validation import parse
from reconciler.spec.yamlsafe import load_documents
from tests.gitrepo import PROJECT

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
START = 1_790_000_000 * NS_PER_S
CARD = "4111 1111 1111 1111"
IBAN = "DE89 3704 0044 0532 0130 00"
SSN = "078-05-1120"
CARD_NUMBER = 4111111111111111  # a card number as a JSON number in a tool result


def triage() -> Agent:
    """The example fleet's support-triage agent: its real must-never patterns."""
    raw = (PROJECT / "agents/support-triage/agent.yaml").read_bytes()
    model, problems = parse(load_documents("agent.yaml", raw)[0], {"Agent": Agent})
    assert isinstance(model, Agent), problems
    return model


def task(
    tools: tuple[ToolUse, ...] = (),
    span: str = "00f067aa0ba902b7",
    trace: str = TRACE,
    minute: int = 0,
    **fields: Any,
) -> Task:
    start = START + minute * 60 * NS_PER_S
    base: dict[str, Any] = {
        "input_text": "Triage ticket TCK-51244.",
        "output_text": "Routed to billing.",
        "revision": "sha256:" + "1" * 64,
        "environment": "prod",
    }
    return Task(
        trace_id=trace,
        span_id=span,
        agent="support-triage",
        start_ns=start,
        end_ns=start + 3 * NS_PER_S,
        tool_calls=tools,
        **{**base, **fields},
    )


def call(tool: str, arguments: Any = None, result: Any = None, error: str | None = None) -> ToolUse:
    return ToolUse(span_id="1" * 16, tool=tool, arguments=arguments, result=result, error=error)


def as_suite(agent: str, text: str) -> EvalSuite:
    """The case text under a new suite's header, read as `alm validate` reads suites."""
    raw = (suite_header(agent) + text).encode()
    model, problems = parse(load_documents(f"evals/{agent}/{SUITE}.yaml", raw)[0], _KINDS)
    assert isinstance(model, EvalSuite), problems
    return model


_KINDS: dict[str, Any] = {"EvalSuite": EvalSuite}


def promoted(the_task: Task, agent: Agent | None = None) -> tuple[dict[str, Any], str]:
    agent = agent or triage()
    result = to_result(the_task, agent, PriceBook())
    case = case_from_task(the_task, agent, result, masker_for(agent))
    return case, case_yaml(case, "support-triage")


def test_a_task_becomes_a_valid_case_that_replays_its_calls() -> None:
    tools = (
        call("ticketing.get_ticket", {"ticket_id": "TCK-1"}, {"subject": "charged twice"}),
        call("crm.get_account", {"account_id": "ACC-1"}, error="RateLimited"),
        call("ticketing.get_ticket", {"ticket_id": "TCK-2"}, {"subject": "other"}),
        call("human.escalate", {"team": "billing-disputes"}, {"ok": True}),
    )
    _, text = promoted(task(tools, escalation_expected=True))
    loaded = as_suite("support-triage", text).cases[0]
    assert loaded.id == case_id(task()) == "prod-4bf92f3577b3-00f067"
    assert loaded.needs_review and loaded.tags == ["production", "promoted"]
    assert loaded.input.message == "Triage ticket TCK-51244."
    fixtures = [(f.tool, f.args, f.returns, f.error) for f in loaded.fixtures]
    assert fixtures == [
        ("ticketing.get_ticket", {"ticket_id": "TCK-1"}, {"subject": "charged twice"}, None),
        ("crm.get_account", {"account_id": "ACC-1"}, None, "RateLimited"),
        ("ticketing.get_ticket", {"ticket_id": "TCK-2"}, {"subject": "other"}, None),
        ("human.escalate", {"team": "billing-disputes"}, {"ok": True}, None),
    ]
    # what the contract implies, and the reviewer's label: nothing guessed
    assert loaded.expect.outcome == "escalated"
    assert loaded.expect.forbid_tool_calls == [
        "billing.issue_refund",
        "crm.update_record",
        "crm.delete_record",
    ]
    assert not loaded.expect.tool_calls and loaded.expect.output is None
    assert "Tool error: crm.get_account: RateLimited" in loaded.description
    assert f"Promoted from production trace {TRACE}" in loaded.description


def test_the_reviewer_comment_says_how_to_record_it_and_holds_no_trace_content() -> None:
    _, text = promoted(task(output_text="# not a comment\n  - id: injected"))
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert any("needs_review: true" in line for line in comments)
    assert any(
        "alm eval --agent support-triage --case prod-4bf92f3577b3-00f067 --mode record" in line
        for line in comments
    )
    assert not any("injected" in line for line in comments)
    suite = as_suite("support-triage", text)
    assert [c.id for c in suite.cases] == ["prod-4bf92f3577b3-00f067"]
    assert "# not a comment\n  - id: injected" in suite.cases[0].description


def test_what_went_wrong_in_production_is_in_the_description() -> None:
    leaked = task(
        (call("billing.issue_refund", {"amount": 5}, {"ok": True}),),
        output_text="Refunded.",
        feedback="negative",
    )
    case, _ = promoted(leaked)
    description = case["description"]
    assert "Production run: failed" in description
    assert "Violation (must_never no-refunds)" in description
    assert "Failed (broke-must-never)" in description
    assert "Failed (negative-feedback)" in description
    assert "Production answer: Refunded." in description


def test_a_trace_without_the_users_text_says_so_in_the_input() -> None:
    case, text = promoted(task(input_text=None))
    assert case["input"]["message"] == NO_INPUT
    assert as_suite("support-triage", text).cases[0].input.message == NO_INPUT


def test_a_tool_name_no_catalog_could_hold_is_left_out_and_named() -> None:
    case, text = promoted(task((call("lookup", {"q": "x"}, "y"), call("crm.get_account"))))
    assert [f["tool"] for f in case["fixtures"]] == ["crm.get_account"]
    assert "Calls left out (not catalog tool names): lookup" in case["description"]
    assert as_suite("support-triage", text).cases[0].fixtures[0].returns is None


# --- masking -----------------------------------------------------------------------------


PII = (CARD, IBAN, SSN, "4111111111111111", "4111-1111-1111-1111", str(CARD_NUMBER))


def test_card_numbers_ibans_and_ssns_are_masked_everywhere() -> None:
    tools = (
        call(
            "ticketing.get_ticket",
            {"ticket_id": "TCK-1", "note": f"card {CARD}"},
            {"body": f"My IBAN is {IBAN} and SSN {SSN}", "card": CARD_NUMBER, IBAN: "as a key"},
        ),
        call("billing.get_subscription", {"iban": IBAN}, error=f"declined card {CARD}"),
        call("ticketing.add_comment", {"body": "card 4111-1111-1111-1111"}, {"ok": True}),
    )
    pii_task = task(
        tools,
        input_text=f"Please charge {CARD}, SSN {SSN}",
        output_text=f"Noted your card {CARD} and IBAN {IBAN}.",
        error=f"crashed on {SSN}",
    )
    _, text = promoted(pii_task)
    for secret in PII:
        assert secret not in text, secret
    mask = placeholder("no-pii-in-comments")
    loaded = as_suite("support-triage", text).cases[0]
    assert loaded.input.message == f"Please charge {mask}, SSN {mask}"
    assert loaded.fixtures[0].returns == {
        "body": f"My IBAN is {mask} and SSN {mask}",
        "card": mask,
        mask: "as a key",
    }
    assert loaded.fixtures[0].args == {"ticket_id": "TCK-1", "note": f"card {mask}"}
    assert loaded.fixtures[1].error == f"declined card {mask}"
    assert f"Task error: crashed on {mask}" in loaded.description
    assert f"Production answer: Noted your card {mask} and IBAN {mask}." in loaded.description


def test_values_that_match_no_pattern_are_kept_as_they_were() -> None:
    masker = masker_for(triage())
    value = {"count": 3, "ratio": 0.5, "ok": True, "none": None, "ids": ["TCK-1", 42]}
    assert masker.value(value) == value


def test_an_agent_without_output_patterns_masks_nothing_and_says_so() -> None:
    masker = Masker(())
    assert not masker.active
    assert masker.text(CARD) == CARD
    assert masker_for(triage()).active


# --- grouping failures ---------------------------------------------------------------------


def graded(tasks: list[Task]) -> list[tuple[Task, Any]]:
    agent = triage()
    return [(t, to_result(t, agent, PriceBook())) for t in tasks]


def test_failures_are_grouped_by_cause_not_path_and_the_latest_is_promoted() -> None:
    refund = call("billing.issue_refund", {"amount": 5}, {"ok": True})
    lookup = call("ticketing.get_ticket", {"ticket_id": "TCK-1"}, {"subject": "x"})
    tasks = [
        task((refund,), span="a" * 16, trace="1" * 32, minute=1),
        task((lookup, refund), span="b" * 16, trace="2" * 32, minute=5),  # same cause, other path
        task((), span="c" * 16, trace="3" * 32, minute=3, error="TimeoutError"),
        task((lookup,), span="d" * 16, trace="4" * 32, minute=4),  # passed: not promoted
    ]
    groups = group_failures(graded(tasks))
    assert [(g.task.trace_id, g.count) for g in groups] == [("2" * 32, 2), ("3" * 32, 1)]
    assert groups[0].signature.rules == ("no-refunds", "ungranted")  # not granted either
    assert groups[0].signature.describe() == (
        "violated no-refunds, ungranted; failed broke-must-never"
    )
    assert groups[1].signature.describe() == "failed errored; error TimeoutError"
    assert [g.task.trace_id for g in group_failures(graded(tasks), limit=1)] == ["2" * 32]


def test_tool_errors_and_labels_make_distinct_failures() -> None:
    flaky = call("crm.get_account", {"account_id": "A"}, error="RateLimited")
    tasks = [
        task((flaky,), span="a" * 16, success=False),
        task((), span="b" * 16, success=False),
        task((), span="c" * 16, escalation_expected=True),
    ]
    pairs = graded(tasks)
    signatures = {signature(t, r) for t, r in pairs}
    assert len(signatures) == 3
    assert {g.signature.describe() for g in group_failures(pairs)} == {
        "failed labelled-failure; tool errors crm.get_account: RateLimited",
        "failed labelled-failure",
        "failed escalation-disagrees",
    }


@pytest.mark.parametrize("span", ["00f067aa0ba902b7", "ffffffffffffffff"])
def test_the_case_id_is_stable_and_a_valid_name(span: str) -> None:
    first, second = case_id(task(span=span)), case_id(task(span=span, minute=9))
    assert first == second == f"prod-4bf92f3577b3-{span[:6]}"
    assert yaml.safe_load(f"id: {first}")["id"] == first


def test_the_gravest_failure_is_promoted_first_even_when_rarer() -> None:
    refund = call("billing.issue_refund", {"amount": 5}, {"ok": True})
    labelled = [
        task((), span=f"{i:016x}", trace=f"{i:032x}", minute=i, success=False) for i in range(1, 6)
    ]
    errored = [task((), span="e" * 16, trace="e" * 32, minute=8, error="TimeoutError")]
    leak = [task((refund,), span="f" * 16, trace="f" * 32, minute=2)]
    groups = group_failures(graded(labelled + errored + leak))
    assert [(g.task.trace_id, g.count) for g in groups] == [
        ("f" * 32, 1),  # a must-never violation, once
        ("e" * 32, 1),  # an error, once
        (f"{5:032x}", 5),  # a label, five times
    ]
    assert [g.task.trace_id for g in group_failures(graded(labelled + leak), limit=1)] == ["f" * 32]
