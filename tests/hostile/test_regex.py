"""Hostile regular expressions (issue 9, class 3): a catastrophic pattern in any place a
repository can put one never hangs validate or eval, and a pattern the linear-time engine
cannot run is rejected at its file:line:column.

``(\\w+\\s?)+$`` against ``WORD`` needs ~2**40 steps from a backtracking engine (Python's
``re``); on RE2 it is linear. The CLI runs in a subprocess under a generous guard, and
every test asserts what the run concluded, so each place is known to have been evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.hostile.schema_attack import (
    AGENT_FILE,
    CATALOG,
    SUITE,
    WORD,
    account_id_schema,
    eval_case,
    located,
    suite,
    use_command_agent,
    validate,
    where,
)

CATASTROPHIC = r"(\w+\s?)+$"
RULE = "no-runaway"


def grant_constraint(repo: GitRepo, constraint: str) -> None:
    """Grant crm.get_account with this constraint (YAML flow mapping) on account_id."""
    repo.replace(
        AGENT_FILE,
        "  - crm.get_account\n",
        f"  - name: crm.get_account\n    constraints:\n      account_id: {constraint}\n",
    )


def forbid_output(repo: GitRepo, pattern: str, rule: str) -> None:
    """A must-never rule forbidding output that matches the pattern."""
    repo.replace(
        AGENT_FILE,
        "  must_never:\n",
        f"  must_never:\n    - id: {RULE}\n      rule: {rule}\n"
        f"      forbid_output_patterns: ['{pattern}']\n",
    )


def plant_everywhere(repo: GitRepo, pattern: str) -> None:
    """The pattern in each place: tool schema, grant constraint, must-never rule, eval
    regex check, argument matcher and json_schema check."""
    quoted = "'^" + pattern + "'"
    account_id_schema(repo, f"          pattern: {quoted}")
    grant_constraint(repo, f"{{enum: ['{WORD}'], pattern: {quoted}}}")
    forbid_output(repo, pattern, "No runaway output.")
    repo.write(
        SUITE,
        suite(f"""\
            tool_calls: [{{tool: crm.search_contacts, args: {{query: {{regex: {quoted}}}}}}}]
            output:
              regex: ['{pattern}']
              json_schema:
                type: object
                properties: {{summary: {{type: string, pattern: {quoted}}}}}
            """),
    )


@pytest.fixture
def attacked(fleet_repo: GitRepo) -> GitRepo:
    use_command_agent(fleet_repo)
    plant_everywhere(fleet_repo, CATASTROPHIC)
    fleet_repo.commit("catastrophic patterns")
    return fleet_repo


def test_validate_runs_a_catastrophic_tool_schema_pattern_and_finishes(attacked: GitRepo) -> None:
    # the constraint's enum value is checked against the tool's hostile pattern
    code, findings = validate(attacked)
    assert code == 1
    assert [f["code"] for f in findings] == ["constraint-value"]
    assert located(findings) == {where(attacked, AGENT_FILE, "account_id: {enum")}
    assert f"enum value '{WORD}' is not a valid 'account_id'" in findings[0]["message"]


def test_eval_runs_every_catastrophic_pattern_and_finishes(
    attacked: GitRepo, tmp_path: Path
) -> None:
    done, case = eval_case(attacked, tmp_path / "results.json")
    assert done.returncode in (0, 1), done.stderr
    assert case["status"] == "failed"
    no_match = f"{WORD!r} does not match {'^' + CATASTROPHIC!r}"
    # the tool schema and the grant constraint, in the sandbox
    assert [v["kind"] for v in case["violations"]] == ["arguments", "constraint"]
    assert no_match in case["violations"][0]["message"]
    assert "breaks the grant's pattern" in case["violations"][1]["message"]
    # the argument matcher, the output regex and the json_schema pattern, in grading
    assert [(f["check"], f["message"].split(";")[-1].split(":")[0]) for f in case["failures"]] == [
        ("tool_call", " none of its 1 call(s) matched"),
        ("output", f"output does not match regex {CATASTROPHIC!r}"),
        ("output", "output JSON fails the schema at summary"),
    ]
    assert no_match in case["failures"][2]["message"]
    # the must-never pattern ran on the output and found nothing
    assert all(v["rule"] != RULE for v in case["violations"])


BACKREFERENCE = r"(a)\1"


def _tool_schema(repo: GitRepo) -> tuple[str, str]:
    account_id_schema(repo, f"          pattern: '{BACKREFERENCE}'")
    return CATALOG, f"'{BACKREFERENCE}'"


def _constraint(repo: GitRepo) -> tuple[str, str]:
    grant_constraint(repo, f"{{pattern: '{BACKREFERENCE}'}}")
    return AGENT_FILE, f"'{BACKREFERENCE}'"


def _must_never(repo: GitRepo) -> tuple[str, str]:
    forbid_output(repo, BACKREFERENCE, "No backreferences.")
    return AGENT_FILE, f"'{BACKREFERENCE}'"


Plant = Callable[[GitRepo], tuple[str, str]]


def _in_suite(expect: str) -> Plant:
    def plant(repo: GitRepo) -> tuple[str, str]:
        repo.write(SUITE, suite(expect.format(p=f"'{BACKREFERENCE}'")))
        return SUITE, f"'{BACKREFERENCE}'"

    return plant


PLACES: dict[str, Plant] = {
    "tool schema pattern": _tool_schema,
    "grant constraint pattern": _constraint,
    "forbid_output_patterns": _must_never,
    "eval regex check": _in_suite("output: {{regex: [{p}]}}\n"),
    "argument matcher": _in_suite(
        "tool_calls: [{{tool: crm.search_contacts, args: {{query: {{regex: {p}}}}}}}]\n"
    ),
    "json_schema pattern": _in_suite(
        "output: {{json_schema: {{properties: {{summary: {{pattern: {p}}}}}}}}}\n"
    ),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_backreference_is_rejected_at_its_file_line_and_column(
    fleet_repo: GitRepo, place: str
) -> None:
    file, needle = PLACES[place](fleet_repo)
    fleet_repo.commit("backreference")
    code, findings = validate(fleet_repo)
    assert code == 1
    rejected = [f for f in findings if "backreference" in f["message"]]
    assert located(rejected) == {where(fleet_repo, file, needle)}, findings
    assert "linear-time engine (RE2) does not support: backreference" in rejected[0]["message"]
