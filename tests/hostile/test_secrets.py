"""Class 7: secrets hidden from a raw-text scan are found by `alm policy check`, at
file:line, and never echoed: escapes that YAML or JSON undo, a double-quoted YAML scalar
joined over lines, a !!binary value, cassettes, files with NUL bytes, UTF-16 text.
In the working tree and at a git ref."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.test_policy_fleet import governed, run

__all__ = ["governed"]

# Built at run time, so this file holds no token-shaped literal of its own.
RANDOM = "Zk3h9Qw8Lr2Vx7Nc4Tb1Yp6Ms5Dg0FaJe"
OPENAI = "sk-" + "proj-" + RANDOM + "x9"
GITHUB = "gh" + "p_" + RANDOM + "AbCd"


def _replace_line(repo: GitRepo, rel: str, starts: str, new: str) -> int:
    """Replace the first line that starts (after indentation) with `starts`; its number."""
    lines = repo.read(rel).split("\n")
    number = next(i for i, line in enumerate(lines) if line.strip().startswith(starts))
    indent = lines[number][: len(lines[number]) - len(lines[number].lstrip())]
    lines[number] = indent + new
    repo.write(rel, "\n".join(lines))
    return number + 1


def plant(repo: GitRepo) -> dict[str, int]:
    """Every hiding place, committed; file -> the line its secret must be reported at."""
    expected = {}
    rel = "agents/support-triage/agent.yaml"
    escaped = f'description: "\\x73k-proj-{RANDOM}x9"'
    expected[rel] = _replace_line(repo, rel, "description:", escaped)
    rel = "evals/support-triage/routing.yaml"
    expected[rel] = _replace_line(repo, rel, "message:", f'message: "\\u0073k-proj-{RANDOM}x9"')
    rel = "evals/email-drafting/drafts.yaml"  # a line continuation: the scalar's first line
    joined = f'message: "sk-proj-{RANDOM[:12]}\\\n        {RANDOM[12:]}x9"'
    expected[rel] = _replace_line(repo, rel, "message:", joined)
    rel = "policies/secrets-demo.yaml"  # a tab escape glues the token to a word character
    repo.write(rel, f'# notes\nx: "see\\t{OPENAI[:3]}\\x70roj-{RANDOM}x9"\n')
    expected[rel] = 2
    rel = "evals/sales-research/briefs.yaml"
    blob = base64.b64encode(GITHUB.encode()).decode()
    repo.write(rel, repo.read(rel) + f"# x\nextra: !!binary {blob}\n")
    expected[rel] = repo.read(rel).count("\n")
    cassette = {"format": "alm.cassette/v1", "response": {"message": {"content": OPENAI}}}
    text = json.dumps(cassette, indent=2).replace(OPENAI, "\\u0073" + OPENAI[1:])
    rel = "evals/support-triage/cassettes/" + "0" * 64 + ".json"
    repo.write(rel, text)
    expected[rel] = 5
    rel = "agents/support-triage/notes.bin"
    repo.write(rel, b"\x00\x01\x02\n\n\xfe" + GITHUB.encode() + b"\x00")
    expected[rel] = 3
    rel = "agents/sales-research/prompts/notes.md"
    repo.write(rel, f"hello\nkey {OPENAI}\n".encode("utf-16"))
    expected[rel] = 2
    repo.commit("hidden secrets")
    return expected


def _assert_never_echoed(*texts: str) -> None:
    for text in texts:
        assert OPENAI not in text and GITHUB not in text
        for start in range(len(RANDOM) - 12):  # no 12 characters of the secret either
            assert RANDOM[start : start + 12] not in text


@pytest.mark.parametrize("at", [(), ("--head", "HEAD")], ids=["worktree", "ref"])
def test_hidden_secrets_are_found_at_their_line_and_never_echoed(
    governed: GitRepo, capsys: pytest.CaptureFixture[str], at: tuple[str, ...]
) -> None:
    expected = plant(governed)
    code, out, err = run(governed, capsys, "policy", "check", "--format", "json", *at)
    assert code == 1
    secrets = [v for v in json.loads(out)["violations"] if v["kind"] == "secret"]
    assert {v["file"]: v["line"] for v in secrets} == expected, secrets
    assert len(secrets) == len(expected)  # one finding each
    code_text, out_text, err_text = run(governed, capsys, "policy", "check", *at)
    assert code_text == 1
    for rel, line in expected.items():
        assert f"{rel}:{line}:" in out_text
    _assert_never_echoed(out, err, out_text, err_text)


def test_a_secret_in_a_cassette_of_an_unchanged_agent_is_found(
    governed: GitRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Cassettes are scanned even though the loader never reads them, and the output of
    alm eval (which does read them) does not echo a secret in a cassette either."""
    rel = next((governed.path / "evals/email-drafting/cassettes").glob("*.json"))
    data = json.loads(rel.read_text("utf-8"))
    data["provenance"]["note"] = OPENAI
    rel.write_text(json.dumps(data, indent=2), "utf-8")
    governed.commit("a key in a cassette")
    code, out, err = run(governed, capsys, "policy", "check", "--format", "json")
    assert code == 1
    (secret,) = [v for v in json.loads(out)["violations"] if v["kind"] == "secret"]
    assert secret["file"] == rel.relative_to(governed.path).as_posix()
    _assert_never_echoed(out, err)
