"""Secret scanning of spec, prompt and eval files: found with file:line, never echoed."""

from __future__ import annotations

import pytest

from reconciler.policy.secrets import entropy, scan, scan_text
from tests.gitrepo import GitRepo
from tests.test_policy_fleet import check_json, governed, run

__all__ = ["governed"]

# Built at run time, so this file holds no token-shaped literal of its own.
RANDOM = "Zk3h9Qw8Lr2Vx7Nc4Tb1Yp6Ms5Dg0FaJe"
SAMPLES = {
    "openai": "sk-" + "proj-" + RANDOM + "x9",
    "anthropic": "sk-" + "ant-api03-" + RANDOM + RANDOM,
    "github": "gh" + "p_" + RANDOM + "AbCd",
    "github-pat": "github" + "_pat_" + RANDOM + "_" + RANDOM,
    "aws": "AK" + "IA" + "QWERTYUIOPASDFGH",
    "google": "AI" + "za" + RANDOM + "x-",
    "slack": "xo" + "xb-" + "1234567890-" + RANDOM,
    "stripe": "sk" + "_live_" + RANDOM,
    "private-key": "-----BEGIN" + " OPENSSH PRIVATE KEY-----",
}


@pytest.mark.parametrize(("name", "secret"), sorted(SAMPLES.items()))
def test_each_detector_finds_its_token(name: str, secret: str) -> None:
    text = f"a: b\nnote: see {secret} here\n"
    (finding,) = scan_text("agents/x/agent.yaml", text)
    assert finding.code == f"secret/{name}"
    assert str(finding.location) == "agents/x/agent.yaml:2:11"
    assert secret not in finding.message and secret[:12] not in finding.message


def test_high_entropy_values_of_secret_fields_are_found() -> None:
    text = f'runtime:\n  headers: {{api_key: "{RANDOM}"}}\n'
    (finding,) = scan_text("agents/x/agent.yaml", text)
    assert finding.code == "secret/high-entropy" and "'api_key'" in finding.message
    assert finding.location.line == 2 and RANDOM not in finding.message


@pytest.mark.parametrize(
    "line",
    [
        "password: ${{ secrets.DB_PASSWORD }}",
        "api_key: <your-api-key-here-please>",
        "token: xxxxxxxxxxxxxxxxxxxxxxxx",
        "secret: correct-horse-battery-staple",
        "max_tokens: 1024",
        "- '(?i)\\b(?:password|api[_ -]?key)\\s*[:=]'",
        "rule: never include passwords or API keys in a draft",
        "auth_header: changeme-0123456789abc",
    ],
)
def test_placeholders_words_and_patterns_are_not_secrets(line: str) -> None:
    assert scan_text("x.yaml", line + "\n") == []


def test_a_token_inside_a_longer_word_is_not_a_token() -> None:
    assert scan_text("x.md", "task-" + RANDOM + "\n") == []


def test_entropy_of_random_text_is_high_and_of_words_is_low() -> None:
    assert entropy(RANDOM) > 4.5 and entropy("aaaaaaaaaaaaaaaa") == 0


def test_binary_and_unreadable_files_are_skipped() -> None:
    key = SAMPLES["openai"].encode()
    assert scan({"a.bin": b"\0\1" + key, "b.yaml": None}) == []
    assert len(scan({"c.yaml": b"k: " + key + b"\n"})) == 1


def test_policy_check_scans_specs_prompts_and_evals_without_echoing(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    planted = {
        "agents/support-triage/prompts/system.md": SAMPLES["openai"],
        "agents/sales-research/agent.yaml": SAMPLES["github"],
        "evals/support-triage/routing.yaml": SAMPLES["aws"],
    }
    for rel, secret in planted.items():
        governed.write(rel, governed.read(rel) + f"\n# {secret}\n")
    code, data = check_json(governed, capsys)
    assert code == 1
    found = {v["file"]: v for v in data["violations"] if v["kind"] == "secret"}
    assert set(found) == set(planted)
    for rel, violation in found.items():
        assert violation["line"] == governed.read(rel).count("\n") and violation["column"] == 3
    code, out, err = run(governed, capsys, "policy", "check")
    code_json, out_json, err_json = run(governed, capsys, "policy", "check", "--format", "json")
    for secret in planted.values():
        for text in (out, err, out_json, err_json):
            assert secret not in text and secret[4:20] not in text
    assert code == code_json == 1


def test_the_example_fleet_holds_no_secrets(
    governed: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = check_json(governed, capsys)
    assert [v for v in data["violations"] if v["kind"] == "secret"] == []
