"""Secret scanning of spec, prompt and eval files: found with file:line, never echoed."""

from __future__ import annotations

import base64

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


def test_files_with_nul_bytes_are_scanned_as_bytes_and_unread_files_skipped() -> None:
    key = SAMPLES["openai"]
    found = scan(
        {
            "a.bin": b"\0\1\n\xff" + key.encode(),
            "b.yaml": None,  # over the size limit: the loader reports it
            "c.md": ("x\n" + key).encode("utf-16"),  # UTF-16: a NUL after each ASCII byte
        }
    )
    assert [(str(f.location), f.code) for f in found] == [
        ("a.bin:2:2", "secret/openai"),
        ("c.md:2:1", "secret/openai"),
    ]


# Escapes that YAML or JSON undo when the file is loaded; each is on line 2.
HIDDEN = {
    "yaml \\x escape": ("a.yaml", 'note: "\\x73k-proj-{r}x9"', 7),
    "yaml \\u escape": ("a.yaml", 'note: "\\u0073k-proj-{r}x9"', 7),
    "yaml \\U escape": ("a.yaml", 'note: "\\U00000073k-proj-{r}x9"', 7),
    "yaml tab escape": ("a.yaml", 'note: "\\tsk-proj-{r}x9"', 7),
    "yaml flow item": ("a.yaml", 'notes: [1, "\\x73k-proj-{r}x9"]', 12),
    "json \\u escape": ("evals/a/cassettes/k.json", '{{"c": "\\u0073k-proj-{r}x9"}}', 7),
}


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_secrets_hidden_by_escapes_are_found_at_their_scalar(name: str) -> None:
    path, line, column = HIDDEN[name]
    text = "a: b\n" + line.format(r=RANDOM) + "\n"
    assert scan_text(path, text) == []  # hidden from the raw scan
    (finding,) = scan({path: text.encode()})
    assert finding.code == "secret/openai"
    assert str(finding.location) == f"{path}:2:{column}"


def test_a_double_quoted_scalar_joined_over_lines_is_found_at_its_first_line() -> None:
    text = f'a: b\nnote: "sk-proj-{RANDOM[:12]}\\\n    {RANDOM[12:]}x9"\nc: d\n'
    (finding,) = scan({"a.yaml": text.encode()})
    assert (finding.code, str(finding.location)) == ("secret/openai", "a.yaml:2:7")


def test_an_escaped_key_name_and_a_binary_value_are_found() -> None:
    encoded = base64.b64encode(SAMPLES["github"].encode()).decode()
    text = f'a: b\n"\\x61pi_key": {RANDOM}\nblob: !!binary {encoded}\n'
    found = scan({"a.yaml": text.encode()})
    assert [(f.code, str(f.location)) for f in found] == [
        ("secret/high-entropy", "a.yaml:2:15"),
        ("secret/github", "a.yaml:3:16"),
    ]
    assert "'api_key'" in found[0].message


def test_scalars_changed_by_a_backslash_or_tag_on_an_earlier_line_are_still_read() -> None:
    """The token scan stops after the last line with a backslash or "binary": the value of
    an escaped key and a !!binary value may lie past it."""
    encoded = base64.b64encode(SAMPLES["github"].encode()).decode()
    text = f'a: b\n"\\x61pi_key":\n  {RANDOM}\nblob: !!binary\n  {encoded}\nz: "{RANDOM}"\n'
    found = scan({"a.yaml": text.encode()})
    assert [(f.code, str(f.location)) for f in found] == [
        ("secret/high-entropy", "a.yaml:3:3"),
        ("secret/github", "a.yaml:5:3"),
    ]


def test_a_secret_seen_raw_is_reported_once() -> None:
    text = f'a: "{SAMPLES["openai"]}\\n"\n'  # raw and loaded both show it
    assert len(scan({"a.yaml": text.encode()})) == 1


def test_a_file_that_does_not_load_is_still_scanned_up_to_its_error() -> None:
    text = f'a: "\\x73k-proj-{RANDOM}x9"\nb: [unclosed\n'
    (finding,) = scan({"a.yaml": text.encode()})
    assert str(finding.location) == "a.yaml:1:4"


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


def test_json_escapes_in_keys_and_values_are_undone_and_escaped_quotes_do_not_misalign() -> None:
    text = (
        '{\n  "x": "a\\"b",\n  "\\u0061pi_key": "' + RANDOM + '",\n'
        '  "note": "\\"\\u0073k-proj-' + RANDOM + 'x9"\n}\n'
    )
    assert scan_text("k.json", text) == []  # the raw text shows neither
    found = scan({"evals/a/cassettes/k.json": text.encode()})
    assert [(f.code, str(f.location)) for f in found] == [
        ("secret/high-entropy", "evals/a/cassettes/k.json:3:3"),
        ("secret/openai", "evals/a/cassettes/k.json:4:11"),
    ]
    assert "'api_key'" in found[0].message


@pytest.mark.parametrize(
    "tagged",
    [
        "blob: !!%62inary {encoded}\n",  # the tag's name %-escaped
        "%TAG !b! tag:yaml.org,2002:bin\n---\nblob: !b!ary {encoded}\n",  # a %TAG handle
    ],
)
def test_a_binary_tag_however_spelled_is_decoded(tagged: str) -> None:
    encoded = base64.b64encode(SAMPLES["github"].encode()).decode()
    found = scan({"a.yaml": tagged.format(encoded=encoded).encode()})
    assert [f.code for f in found] == ["secret/github"]
    assert SAMPLES["github"][:12] not in found[0].message
