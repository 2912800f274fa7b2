"""GitHub Actions' way of running a job's `run:` steps, for tests of the workflows.

Each `run:` step runs in bash as the runner runs it (`bash --noprofile --norc -eo pipefail`),
with the workflow's, the job's and the step's `env:` evaluated, `${{ }}` replaced in the
script, `$GITHUB_OUTPUT` read back into `steps.<id>.outputs`, each step's outcome kept as
`steps.<id>.outcome`, and `if:` decided as GitHub decides it (an `if:` without a status
function means `success() && ...`). Steps that `uses:` an action are GitHub's and are not
run. Expressions: the subset the workflows use (context names, string literals, `==`,
`!=`, `!`, `&&`, `||` with GitHub's truthiness, `format()` and the status functions); the
test fails on anything else rather than guess.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.gitrepo import PROJECT

WORKFLOWS = PROJECT / ".github" / "workflows"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|,|'(?:[^']|'')*'|[A-Za-z_][\w.\-]*)")
NULLABLE = ("steps.", "github.event.", "needs.")  # GitHub reads a missing property as null


@dataclass
class StepRun:
    name: str
    code: int
    output: str


def workflow(name: str = "alm-pr.yml") -> dict[str, Any]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8")))


def _tokens(text: str) -> list[str]:
    tokens, at = [], 0
    while at < len(text.rstrip()):
        match = TOKEN.match(text, at)
        assert match, f"the test does not know the expression {text!r}"
        tokens.append(match.group(1))
        at = match.end()
    return tokens


class _Eval:
    """A recursive descent over one expression's tokens."""

    def __init__(self, text: str, context: dict[str, str], failed: bool) -> None:
        self.tokens, self.context, self.failed, self.text = _tokens(text), context, failed, text

    def run(self) -> Any:
        value = self.either()
        assert not self.tokens, f"the test does not know the expression {self.text!r}"
        return value

    def take(self, token: str) -> bool:
        if self.tokens and self.tokens[0] == token:
            self.tokens.pop(0)
            return True
        return False

    def either(self) -> Any:
        value = self.both()
        while self.take("||"):
            right = self.both()
            value = value if truthy(value) else right
        return value

    def both(self) -> Any:
        value = self.unary()
        while self.take("&&"):
            right = self.unary()
            value = right if truthy(value) else value
        return value

    def unary(self) -> Any:
        if self.take("!"):
            return not truthy(self.unary())
        left = self.atom()
        for operator in ("==", "!="):
            if self.take(operator):
                equal = str(left or "").lower() == str(self.atom() or "").lower()
                return equal if operator == "==" else not equal
        return left

    def atom(self) -> Any:
        token = self.tokens.pop(0)
        if token == "(":
            value = self.either()
            assert self.take(")"), self.text
            return value
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if self.take("("):
            args = [] if self.take(")") else self.arguments()
            return self.call(token, args)
        return self.name(token)

    def arguments(self) -> list[Any]:
        args = [self.either()]
        while self.take(","):
            args.append(self.either())
        assert self.take(")"), self.text
        return args

    def call(self, function: str, args: list[Any]) -> Any:
        status = {"success": not self.failed, "failure": self.failed, "always": True}
        if function in status or function == "cancelled":
            return status.get(function, False)  # nothing is ever cancelled here
        assert function == "format", f"the test does not know {function}()"
        return re.sub(r"\{(\d+)\}", lambda m: str(args[1 + int(m.group(1))] or ""), args[0])

    def name(self, token: str) -> Any:
        if token in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token]
        if token in self.context:
            return self.context[token]
        assert token.startswith(NULLABLE), f"the test does not know the expression {token!r}"
        return None


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


def evaluate(text: str, context: dict[str, str], failed: bool = False) -> Any:
    return _Eval(text, context, failed).run()


def substitute(text: str, context: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        result = evaluate(match.group(1), context)
        if isinstance(result, bool):
            return str(result).lower()
        return "" if result is None else str(result)

    return EXPRESSION.sub(value, str(text))


STATUS_FUNCTION = re.compile(r"\b(success|failure|always|cancelled)\(\)")


def should_run(condition: str, context: dict[str, str], failed: bool) -> bool:
    """GitHub's `if:`: `${{ }}` optional, `success() &&` implied without a status function."""
    text = EXPRESSION.sub(lambda m: m.group(1), condition.strip())
    if not STATUS_FUNCTION.search(text):
        text = f"success() && ({text})"
    return truthy(evaluate(text, context, failed))


def environment(scopes: list[dict[str, Any]], context: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for scope in scopes:
        env |= {k: substitute(str(v), context) for k, v in scope.get("env", {}).items()}
    return env


def runner_env(context: dict[str, str]) -> dict[str, str]:
    """What the runner sets for every step: the event's name and payload file."""
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": context["github.event_name"]}
    return env | ({"GITHUB_EVENT_PATH": context["event_path"]} if "event_path" in context else {})


def run_step(
    step: dict[str, Any], repo: Path, context: dict[str, str], env: dict[str, str]
) -> StepRun:
    """One `run:` step in bash as GitHub runs it; what it writes to $GITHUB_OUTPUT lands
    in the context as steps.<id>.outputs.<name>."""
    output, summary = repo / ".github-output", repo / ".github-step-summary"
    output.write_text("", encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
         substitute(step["run"], context)],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **env, **runner_env(context), "GITHUB_OUTPUT": str(output),
             "GITHUB_STEP_SUMMARY": str(summary)},
        timeout=300,
        check=False,
    )  # fmt: skip
    for line in output.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if "id" in step:
            context[f"steps.{step['id']}.outputs.{key}"] = value
    output.unlink()
    if "id" in step:
        context[f"steps.{step['id']}.outcome"] = "success" if done.returncode == 0 else "failure"
    return StepRun(step.get("name", step["run"]), done.returncode, done.stdout + done.stderr)


def run_job(
    job: dict[str, Any],
    repo: Path,
    context: dict[str, str],
    file: str = "alm-pr.yml",
    actions: list[dict[str, Any]] | None = None,
) -> list[StepRun]:
    """The job's run steps in order (under a pull_request event unless the context says
    otherwise); after a failed step only those whose `if:` allows it, as on GitHub. The
    `uses:` steps that GitHub would run are appended to `actions` (they are not run)."""
    runs: list[StepRun] = []
    failed = False
    context = {"github.event_name": "pull_request", **context}
    for step in job["steps"]:
        if not should_run(str(step.get("if", "success()")), context, failed):
            continue
        if "uses" in step and actions is not None:
            actions.append(step)
        if "run" not in step or step["run"].strip() == "make setup":
            continue
        env = environment([workflow(file), job, step], context)
        runs.append(run_step(step, repo, context, env))
        failed = failed or runs[-1].code != 0
    return runs
