"""Hostile and broken input: `alm validate` reports each one at file:line:col, exits 1,
and never prints a Python traceback, from the working tree and from a git ref alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.spec.loader import load_snapshot
from reconciler.spec.yamlbuild import MAX_DEPTH
from reconciler.spec.yamlsafe import MAX_FILE_BYTES
from tests.cli import PYTHON_M_ALM, run_process
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import AGENT, AGENT_YAML, PROMPT, make_mini, mini_snapshot, pos
from tests.test_spec_yamlsafe import BILLION_LAUGHS

PROJECT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Hostile:
    name: str
    setup: Callable[[GitRepo, Path], object]
    file: str
    line: int
    column: int
    code: str
    says: str  # a piece of the message


def _agent(text: str | bytes) -> Callable[[GitRepo, Path], None]:
    def setup(repo: GitRepo, _outside: Path) -> None:
        repo.write(AGENT, text)

    return setup


def _edit(old: str, new: str) -> Callable[[GitRepo, Path], None]:
    assert AGENT_YAML.count(old) == 1
    return _agent(AGENT_YAML.replace(old, new))


def _symlink_prompt(target: str) -> Callable[[GitRepo, Path], None]:
    def setup(repo: GitRepo, outside: Path) -> None:
        (repo.path / PROMPT).unlink()
        os.symlink(target.format(outside=outside), repo.path / PROMPT)

    return setup


def _symlink_prompt_folder(repo: GitRepo, outside: Path) -> None:
    folder = repo.path / "agents/helper/prompts"
    (folder / "system.md").unlink()
    folder.rmdir()
    os.symlink(outside, folder)


DUPLICATE_TOOLS = AGENT_YAML + "tools:\n  - desk.refund\n"
UNKNOWN_FIELD = AGENT_YAML.replace("  must_never:", "  must_nevr:")
PROMPT_AT = pos(AGENT_YAML, "prompts/system.md")
TOO_BIG = AGENT_YAML + "# " + "x" * MAX_FILE_BYTES + "\n"

CASES = [
    Hostile(
        "syntax error",
        _edit("  labels: {tier: customer-facing}\n", "  labels: {tier: customer-facing\n"),
        AGENT,
        7,
        9,
        "yaml-syntax",
        "YAML syntax error",
    ),
    Hostile(
        "second tools: key",
        _agent(DUPLICATE_TOOLS),
        AGENT,
        25,
        1,
        "duplicate-key",
        "duplicate key 'tools' (first at line 18)",
    ),
    Hostile(
        "unknown field",
        _agent(UNKNOWN_FIELD),
        AGENT,
        9,
        3,
        "unknown-field",
        "unknown field 'must_nevr' in contract (did you mean 'must_never'?)",
    ),
    Hostile(
        "wrong type",
        _edit("deploy: {environments: [staging, prod]}", "deploy: {environments: staging}"),
        AGENT,
        24,
        24,
        "schema",
        "deploy.environments: Input should be a valid list",
    ),
    Hostile(
        "wrong scalar type",
        _edit("task_success_rate: {min: 0.9}", "task_success_rate: {min: plenty}"),
        AGENT,
        15,
        30,
        "schema",
        "contract.success_metrics.task_success_rate.min: Input should be a valid number",
    ),
    Hostile(
        "missing field",
        _edit("prompt: {system: prompts/system.md}\n", ""),
        AGENT,
        1,
        1,
        "missing-field",
        "missing required field prompt",
    ),
    Hostile("billion laughs", _agent(BILLION_LAUGHS), AGENT, 1, 14, "alias-bomb", "at most"),
    Hostile(
        "deep nesting",
        _agent("[" * 100_000 + "]" * 100_000),
        AGENT,
        1,
        MAX_DEPTH + 1,
        "too-deep",
        f"expected at most {MAX_DEPTH} levels",
    ),
    Hostile("over the size limit", _agent(TOO_BIG), AGENT, 1, 1, "file-too-large", "bytes"),
    Hostile(
        "prompt path with ../",
        _edit("prompts/system.md", "../../../etc/passwd"),
        AGENT,
        *PROMPT_AT,
        "path-escape",
        "leaves the repository",
    ),
    Hostile(
        "absolute prompt path",
        _edit("prompts/system.md", "/etc/passwd"),
        AGENT,
        *PROMPT_AT,
        "path-escape",
        "leaves the repository",
    ),
    Hostile(
        "prompt symlink to an absolute path",
        _symlink_prompt("{outside}/secret.md"),
        AGENT,
        *PROMPT_AT,
        "path-escape",
        "leaves the repository",
    ),
    Hostile(
        "prompt symlink up and out",
        _symlink_prompt("../../../../outside/secret.md"),
        AGENT,
        *PROMPT_AT,
        "path-escape",
        "leaves the repository",
    ),
    Hostile(
        "prompt folder symlinked out",
        _symlink_prompt_folder,
        AGENT,
        *PROMPT_AT,
        "path-escape",
        "leaves the repository",
    ),
    Hostile(
        "non-UTF-8 agent file",
        _agent(AGENT_YAML.encode().replace(b"Help customers", b"Help cust\xffomers")),
        AGENT,
        8,
        21,
        "encoding",
        "byte 0xff is not UTF-8",
    ),
    Hostile(
        "non-UTF-8 prompt",
        lambda repo, _: repo.write(PROMPT, b"line one\nbad \xc3\x28 here\n"),
        PROMPT,
        2,
        5,
        "encoding",
        "byte 0xc3 is not UTF-8",
    ),
    Hostile("empty file", _agent(""), AGENT, 1, 1, "empty", "file is empty"),
    Hostile(
        "list instead of a mapping",
        _agent("- apiVersion: alm/v1\n- kind: Agent\n"),
        AGENT,
        1,
        1,
        "schema",
        "document is a list; expected a mapping",
    ),
    Hostile(
        "scalar document",
        _agent("just text\n"),
        AGENT,
        1,
        1,
        "schema",
        "document is a str value; expected a mapping",
    ),
    Hostile(
        "kind is a list",
        _edit("kind: Agent", "kind: [Agent]"),
        AGENT,
        2,
        7,
        "kind",
        "kind is ['Agent']; expected one of: Agent",
    ),
    Hostile(
        "impossible date",
        _edit("task_success_rate: {min: 0.9}", "task_success_rate: {min: 2024-13-45}"),
        AGENT,
        15,
        30,
        "yaml",
        "bad tag:yaml.org,2002:timestamp value",
    ),
    Hostile(
        "python tag",
        _edit("kind: Agent", "kind: !!python/object/apply:os.system ['true']"),
        AGENT,
        2,
        7,
        "yaml",
        "unsupported YAML tag",
    ),
]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.md").write_text("the secret\n")
    (folder / "system.md").write_text("the secret\n")
    return folder


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_a_located_finding_without_traceback(
    case: Hostile, tmp_path: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_mini(tmp_path / "repo")
    case.setup(repo, outside)
    repo.commit(case.name)
    where = f"{case.file}:{case.line}:{case.column}" if case.line else case.file
    for ref_args in ([], ["--ref", "HEAD"]):
        code, out, err = _validate(capsys, "-C", str(repo.path), "validate", *ref_args)
        assert code == 1, (out, err)
        assert "Traceback" not in out + err
        assert err == ""
        lines = [line for line in out.splitlines() if line.startswith(f"{where}: error: ")]
        assert lines, out
        assert any(case.says in line and line.endswith(f"[{case.code}]") for line in lines), out
        assert "the secret" not in out
        assert out.splitlines()[-1].endswith(", 0 warnings")
        assert ": invalid: " in out.splitlines()[-1]


def test_a_second_tools_key_never_replaces_the_first() -> None:
    state = load_snapshot(mini_snapshot({AGENT: DUPLICATE_TOOLS.encode()}))
    assert state.agents == []  # not loaded with either list of tools
    assert [f.code for f in state.findings] == ["duplicate-key"]


def test_all_problems_of_one_file_are_reported_together() -> None:
    text = AGENT_YAML.replace("  must_never:", "  must_nevr:").replace(
        "deploy: {environments: [staging, prod]}", "deploy: {environments: staging}"
    )
    state = load_snapshot(mini_snapshot({AGENT: text.encode()}))
    assert sorted((f.code, f.location.line) for f in state.findings) == [
        ("schema", 24),
        ("unknown-field", 9),
    ]


@pytest.mark.parametrize(
    "command",
    [[str(PROJECT / ".venv/bin/alm")], list(PYTHON_M_ALM)],
    ids=["alm", "python -m reconciler"],
)
def test_a_real_process_reports_hostile_files_without_traceback(
    command: list[str], tmp_path: Path
) -> None:
    repo = make_mini(tmp_path / "repo")
    repo.write(AGENT, "[" * 100_000 + "]" * 100_000)
    repo.write("agents/laughs/agent.yaml", BILLION_LAUGHS)
    repo.write("agents/dup/agent.yaml", DUPLICATE_TOOLS.replace("name: helper", "name: dup"))
    repo.write("agents/bytes/agent.yaml", b"apiVersion: alm/v1\nkind: \xfe\n")
    done = run_process(repo.path, "validate", program=command)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert f"{AGENT}:1:{MAX_DEPTH + 1}: error: " in out
    assert "agents/laughs/agent.yaml:1:14: error: " in out and "[alias-bomb]" in out
    assert "agents/dup/agent.yaml:25:1: error: duplicate key 'tools'" in out
    assert "agents/bytes/agent.yaml:2:7: error: byte 0xfe is not UTF-8" in out
