"""The example fleet's email-drafting agent as a scripted command agent, with hostile
patterns and schemas planted in a pull request, checked through the real CLI.

The agent calls crm.get_account and crm.search_contacts with ``WORD`` as the account id
and the query, then answers with the JSON ``{"summary": WORD}``. ``WORD`` is 40 word
characters and a "!": a backtracking engine needs about 2**40 steps to find that
``(\\w+\\s?)+$`` does not match it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.cli import run_process
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import pos

AGENT = "email-drafting"
AGENT_FILE = f"agents/{AGENT}/agent.yaml"
CATALOG = "policies/tools.yaml"
SUITE = f"evals/{AGENT}/hostile.yaml"
CASE = "hostile-case"
WORD = "a" * 40 + "!"
HANG_GUARD = 60  # seconds: only so a regression fails instead of hanging the suite

ACCOUNT_ID = '          pattern: "^ACC-[0-9]{4,10}$"\n          description: CRM account id'

AGENT_PROGRAM = f"""
import json, sys
def say(message):
    sys.stdout.write(json.dumps(message) + "\\n")
    sys.stdout.flush()
sys.stdin.readline()
say({{"type": "tool_call", "id": "c1", "name": "crm__get_account",
     "arguments": {{"account_id": {WORD!r}}}}})
sys.stdin.readline()
say({{"type": "tool_call", "id": "c2", "name": "crm__search_contacts",
     "arguments": {{"query": {WORD!r}}}}})
sys.stdin.readline()
say({{"type": "final", "output": json.dumps({{"summary": {WORD!r}}})}})
"""


def suite(expect: str) -> str:
    """An eval suite with one case for the agent; `expect` is its YAML expect: block."""
    return (
        "apiVersion: alm/v1\nkind: EvalSuite\n"
        f"metadata: {{name: hostile, agent: {AGENT}}}\n"
        "cases:\n"
        f"  - id: {CASE}\n"
        "    input: {message: Look up the account.}\n"
        "    expect:\n" + textwrap.indent(textwrap.dedent(expect), "      ")
    )


def use_command_agent(repo: GitRepo) -> None:
    repo.write(f"agents/{AGENT}/scripted_agent.py", textwrap.dedent(AGENT_PROGRAM))
    runtime = f"{{type: command, command: [{sys.executable}, scripted_agent.py]}}"
    repo.replace(AGENT_FILE, "runtime: {type: builtin}", f"runtime: {runtime}")


def account_id_schema(repo: GitRepo, replacement: str) -> None:
    """Replace the pattern of crm.get_account's account_id (the first one in the file)."""
    repo.replace(CATALOG, ACCOUNT_ID, replacement + "\n          description: CRM account id")


def where(repo: GitRepo, file: str, needle: str) -> tuple[str, int, int]:
    return (file, *pos(repo.read(file), needle))


def alm(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess, under the hang guard."""
    done = run_process(repo.path, *args, timeout=HANG_GUARD)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def validate(repo: GitRepo) -> tuple[int, list[dict[str, Any]]]:
    done = alm(repo, "validate", "--format", "json")
    return done.returncode, json.loads(done.stdout)["findings"]


def eval_case(repo: GitRepo, out: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """alm eval of the hostile case; the results' one case."""
    done = alm(repo, "eval", "--agent", AGENT, "--case", CASE, "--no-cache", "--out", str(out))
    (case,) = json.loads(out.read_text("utf-8"))["cases"]
    return done, case


def located(findings: list[dict[str, Any]]) -> set[tuple[str, int, int]]:
    return {(f["file"], f["line"], f["column"]) for f in findings}
