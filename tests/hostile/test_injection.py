"""Class 2: injection into what other tools read (CODEOWNERS, the Actions runner).

Every attack runs through the real CLI on a real git repository; output under GitHub
Actions is read as the runner reads it (tests/actions_runner.py).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reconciler.spec.paths import shown
from tests.actions_runner import Runner
from tests.cli import run, run_process
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import AGENT, PROMPT, make_mini, pos

HOSTILE = "H1\n::add-mask::secret\n::error::x\n  ##[set-output name=a;]b\r::warning::cr"
HOSTILE_YAML = '"H1\\n::add-mask::secret\\n::error::x\\n  ##[set-output name=a;]b\\r::warning::cr"'


def alm(repo: GitRepo, *args: str, actions: bool = True) -> tuple[int, str, str]:
    """alm in its own process, as a workflow step runs it; output kept byte-exact (CR)."""
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    if actions:
        env["GITHUB_ACTIONS"] = "true"
    done = run_process(repo.path, *args, env=env, text=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def assert_nothing_obeyed_but_ours(out: str, err: str, annotations: int = 0) -> Runner:
    """stdout: only stop/resume and alm's own annotations; stderr: nothing at all."""
    runner = Runner().read(out)
    assert runner.stop_token is None, "commands were left stopped"
    for command in runner.obeyed:
        assert command.name in ("error", "warning"), command
        assert command.props.get("title", "").startswith("alm "), command
        assert "file" in command.props, command
    assert len(runner.obeyed) == annotations
    assert Runner().read(err).obeyed == []
    for token in runner.tokens:
        assert re.fullmatch(r"[0-9a-f]{32}", token)
    return runner


POLICY = """\
apiVersion: alm/v1
kind: Policy
metadata: {{name: rules, owners: ["@acme/platform"]}}
validations:
  - id: always
    expression: "false"
    message: {message}
"""
TIERS = """\
apiVersion: alm/v1
kind: Policy
metadata: {{name: tiers-{n}, owners: ["@acme/platform"]}}
match: {{labels: {{tier: {value}}}}}
validations:
  - {{id: fine, expression: "true", message: fine}}
"""


def _tiers(value: str) -> str:
    return TIERS.replace("{n}", str(abs(hash(value)) % 1000)).format(value=value)


POLICY_RUNS = [
    (["policy", "check"], 0),
    (["policy", "check", "--format", "github"], 1),
    (["validate"], 0),
    (["validate", "--format", "github"], 1),
]


@pytest.fixture
def hostile(tmp_path: Path) -> GitRepo:
    repo = make_mini(tmp_path / "repo")
    repo.replace(AGENT, "tier: customer-facing", "tier: customer-facin")
    repo.write("policies/rules.yaml", POLICY.format(message=HOSTILE_YAML))
    repo.write("policies/tiers.yaml", _tiers(HOSTILE_YAML))
    repo.write("policies/tiers2.yaml", _tiers("customer-facing"))
    repo.commit("hostile policies")
    return repo


def test_the_attack_is_real_without_actions(hostile: GitRepo) -> None:
    """Outside Actions nothing is wrapped: the runner would obey the repository's text."""
    for args, annotated in POLICY_RUNS:
        if annotated:  # --format github escapes its annotations anyway
            continue
        _, out, _ = alm(hostile, *args, actions=False)
        names = {c.name for c in Runner().read(out).obeyed}
        assert {"add-mask", "set-output"} <= names, (args, out)


@pytest.mark.parametrize(
    ("args", "annotations"), POLICY_RUNS, ids=[" ".join(a) for a, _ in POLICY_RUNS]
)
def test_repository_text_is_never_obeyed_under_actions(
    hostile: GitRepo, args: list[str], annotations: int
) -> None:
    code, out, err = alm(hostile, *args)
    assert code == (1 if args[0] == "policy" else 0), out + err
    assert "::add-mask::secret" in out  # printed, for people to read
    runner = assert_nothing_obeyed_but_ours(out, err, annotations)
    if annotations:
        # the annotation carries the whole message, unescaped by the runner, on one line
        (annotation,) = runner.obeyed
        assert "::add-mask::secret" in annotation.data
        assert annotation.props["file"] == AGENT


def test_the_stop_token_is_fresh_every_run(hostile: GitRepo) -> None:
    first = Runner().read(alm(hostile, "validate")[1]).tokens
    second = Runner().read(alm(hostile, "validate")[1]).tokens
    assert first and second and not set(first) & set(second)


def test_prompt_lines_in_diff_are_never_obeyed(tmp_path: Path) -> None:
    repo = make_mini(tmp_path / "repo")
    repo.write(PROMPT, "Help.\n::set-output name=x::y\n##[add-mask]z\n")
    repo.commit("base prompt")
    repo.write(PROMPT, "Help more.\n::set-output name=x::y\n##[add-mask]z\n")  # context lines
    repo.commit("head prompt")
    _, plain, _ = alm(repo, "diff", "--base", "HEAD~1", "--head", "HEAD", actions=False)
    assert {"set-output", "add-mask"} <= {c.name for c in Runner().read(plain).obeyed}
    code, out, err = alm(repo, "diff", "--base", "HEAD~1", "--head", "HEAD")
    assert code == 0 and "set-output name=x::y" in out
    assert_nothing_obeyed_but_ours(out, err)
    code, out, err = alm(repo, "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert code == 0 and json.loads(out)  # JSON for a parser: no marker lines around it
    assert_nothing_obeyed_but_ours(out, err)


def test_errors_on_stderr_are_defused_too(tmp_path: Path) -> None:
    repo = make_mini(tmp_path / "repo")
    code, out, err = alm(repo, "diff", "--base", "::add-mask::x")
    assert code == 2 and "add-mask" in err
    assert_nothing_obeyed_but_ours(out, err)


def test_json_output_is_left_parseable_under_actions(hostile: GitRepo) -> None:
    import json

    code, out, err = alm(hostile, "validate", "--format", "json")
    assert code == 0
    (finding,) = json.loads(out)["findings"]
    assert HOSTILE in finding["message"]
    assert_nothing_obeyed_but_ours(out, err)


# --- CODEOWNERS ----------------------------------------------------------------------


def _codeowners(repo: GitRepo) -> bytes:
    return (repo.path / ".github/CODEOWNERS").read_bytes()


@pytest.fixture
def owned(mini: GitRepo, capsys: pytest.CaptureFixture[str]) -> GitRepo:
    """The mini fleet with a CODEOWNERS written by alm and committed."""
    code, _, _ = run(capsys, "-C", str(mini.path), "codeowners", "--write")
    assert code == 0
    mini.commit("codeowners")
    return mini


def test_an_owner_with_a_newline_is_a_finding_and_nothing_is_written(
    owned: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _codeowners(owned)
    owned.replace(AGENT, '"@alice"', '"@acme/team\\n* @attacker"')
    code, out, _ = run(capsys, "-C", str(owned.path), "validate")
    line, col = pos(owned.read(AGENT), '"@acme/team')
    assert code == 1
    assert f"{AGENT}:{line}:{col}: error:" in out and "'@acme/team\\n* @attacker'" in out
    code, _, err = run(capsys, "-C", str(owned.path), "codeowners", "--write")
    assert code == 1 and "expected a valid state" in err
    assert f"{AGENT}:{line}:{col}" in err
    assert _codeowners(owned) == before


@pytest.mark.parametrize(
    "owner", ["@acme/team\\t@attacker", "@acme/team # x", "@u\\u2028* @attacker", "@u\\r"]
)
def test_owners_with_any_separator_are_refused(
    owned: GitRepo, capsys: pytest.CaptureFixture[str], owner: str
) -> None:
    before = _codeowners(owned)
    owned.replace(AGENT, '"@alice"', f'"{owner}"')
    code, out, _ = run(capsys, "-C", str(owned.path), "validate")
    line, col = pos(owned.read(AGENT), f'"{owner}"')
    assert code == 1
    assert f"{AGENT}:{line}:{col}: error: owner " in out and "[bad-owner]" in out
    code, _, _ = run(capsys, "-C", str(owned.path), "codeowners", "--write")
    assert code == 1
    assert _codeowners(owned) == before


@pytest.mark.parametrize(
    "name",
    ["policies/x\n* @attacker\n.yaml", "policies/a b.yaml", "policies/a\\b.yaml",
     "policies/#x.yaml", "evals/helper/a\u2028b.yaml", "agents/helper/prompts/a\tb.md"],
    ids=["newline", "space", "backslash", "hash", "line separator", "tab"],
)  # fmt: skip
def test_a_committed_file_name_other_tools_would_misread_is_refused(
    owned: GitRepo, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    before = _codeowners(owned)
    owned.write(name, POLICY.format(message="fine").replace("rules", "evil"))
    owned.commit("hostile name")
    listed = owned.git("ls-files", "-z").split("\0")
    assert name in listed  # git stores it as it is
    for where in (["--ref", "HEAD"], []):
        code, out, _ = run(capsys, "-C", str(owned.path), "validate", *where)
        assert code == 1
        (line,) = [x for x in out.splitlines() if "[bad-path]" in x]
        assert line.startswith(f"{shown(name)}:1:1: error: ")
        assert "expected letters, digits" in line or "expected printable characters" in line
    code, _, _ = run(capsys, "-C", str(owned.path), "codeowners", "--write")
    assert code == 1
    assert _codeowners(owned) == before


def test_check_names_an_injected_line_in_the_committed_file(
    owned: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "-C", str(owned.path), "codeowners", "--check")
    assert code == 0 and "is current" in out
    text = owned.read(".github/CODEOWNERS")
    owned.write(".github/CODEOWNERS", text + "/agents/helper/  @attacker\n")
    line = text.count("\n") + 1
    code, _, err = run(capsys, "-C", str(owned.path), "codeowners", "--check")
    assert code == 1
    assert f".github/CODEOWNERS:{line}: rule `/agents/helper/ @attacker` is not generated" in err


def test_check_reports_a_control_character_github_would_split_on(
    owned: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = owned.read(".github/CODEOWNERS")
    owned.write(".github/CODEOWNERS", text.replace("/agents/helper/", "/agents/helper/\x0b", 1))
    code, _, err = run(capsys, "-C", str(owned.path), "codeowners", "--check")
    assert code == 1 and "U+000B, a control character" in err


def test_check_ignores_comments_and_spacing(
    owned: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = owned.read(".github/CODEOWNERS")
    owned.write(".github/CODEOWNERS", "# ours\n\n" + text.replace("  ", "\t"))
    code, out, _ = run(capsys, "-C", str(owned.path), "codeowners", "--check")
    assert code == 0 and "comments or spacing differ" in out
