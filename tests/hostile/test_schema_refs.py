"""Hostile JSON Schema ``$ref`` (issue 9, class 1): alm never retrieves a reference.

A ``$ref`` in a tool's argument schema or in an eval's ``json_schema`` check that points at
a URL, a file or a relative path is a finding at the ``$ref``'s file:line:column; a real
local HTTP server records that nothing asked it for anything, and a secret file outside
the repository never shows in any output or results. Self-references and dangling
references are findings, not crashes; an internal ``#/$defs/...`` reference still works.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.hostile.schema_attack import (
    CATALOG,
    SUITE,
    WORD,
    account_id_schema,
    alm,
    eval_case,
    located,
    suite,
    use_command_agent,
    validate,
    where,
)

SECRET = "SECRET-7f3a-do-not-print"
OTHER_SUITE = SUITE.replace("hostile.yaml", "hostile-schema.yaml")


class Recorder:
    """A local HTTP server that serves a schema and records every request it gets."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.paths.append(self.path)
                body = json.dumps({"type": "string", "description": SECRET}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/schema.json"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    live = Recorder()
    thread = threading.Thread(target=live.server.serve_forever, daemon=True)
    thread.start()
    yield live
    live.server.shutdown()
    live.server.server_close()


def _plant(repo: GitRepo, ref: str) -> None:
    """The ref in a tool's argument schema and in an eval's json_schema check; the case
    the eval runs (in its own file, which loads) calls the tool."""
    use_command_agent(repo)
    account_id_schema(repo, f"          $ref: '{ref}'")
    repo.write(SUITE, suite("outcome: resolved\n"))
    repo.write(
        OTHER_SUITE,
        suite(f"output: {{json_schema: {{properties: {{summary: {{$ref: '{ref}'}}}}}}}}\n").replace(
            "name: hostile,", "name: hostile-schema,"
        ),
    )
    repo.commit("hostile $ref")


def _ref_findings(repo: GitRepo, ref: str) -> None:
    code, findings = validate(repo)
    assert code == 1
    needle = f"'{ref}'"
    assert located(findings) == {where(repo, CATALOG, needle), where(repo, OTHER_SUITE, needle)}
    for finding in findings:
        assert "alm never retrieves a reference" in finding["message"]


def test_a_remote_ref_is_a_finding_and_nothing_is_fetched(
    fleet_repo: GitRepo, recorder: Recorder, tmp_path: Path
) -> None:
    _plant(fleet_repo, recorder.url)
    _ref_findings(fleet_repo, recorder.url)
    done, case = eval_case(fleet_repo, tmp_path / "results.json")
    (call, _) = case["trajectory"]["tool_calls"]
    assert "arguments cannot be checked" in call["error"] and "points outside" in call["error"]
    assert SECRET not in done.stdout + done.stderr
    assert recorder.paths == []


@pytest.mark.parametrize("form", ["{uri}", "../../../secret.json", "secret.json"])
def test_a_file_ref_never_reads_the_file(fleet_repo: GitRepo, tmp_path: Path, form: str) -> None:
    secret = fleet_repo.path.parent / "secret.json"
    secret.write_text(json.dumps({"type": "string", "description": SECRET}), "utf-8")
    ref = form.format(uri=secret.as_uri())
    _plant(fleet_repo, ref)
    _ref_findings(fleet_repo, ref)
    outputs = [alm(fleet_repo, "validate", "--format", fmt) for fmt in ("text", "json", "github")]
    done, _ = eval_case(fleet_repo, tmp_path / "results.json")
    printed = "".join(d.stdout + d.stderr for d in [*outputs, done])
    assert SECRET not in printed
    assert SECRET not in (tmp_path / "results.json").read_text("utf-8")


SELF_REF = "          allOf: [{$ref: '#/properties/account_id'}]"
LOOP = (
    "          $ref: '#/properties/account_id/$defs/a'\n"
    "          $defs: {a: {anyOf: [{$ref: '#/properties/account_id/$defs/a'}]}}"
)
DANGLING = "          $ref: '#/$defs/missing'"


@pytest.mark.parametrize(
    ("schema", "needle", "says"),
    [
        (SELF_REF, "'#/properties/account_id'", "closes a loop"),
        (LOOP, "'#/properties/account_id/$defs/a'}", "closes a loop"),
        (DANGLING, "'#/$defs/missing'", "does not resolve"),
    ],
)
def test_self_and_dangling_refs_are_findings_not_crashes(
    fleet_repo: GitRepo, tmp_path: Path, schema: str, needle: str, says: str
) -> None:
    use_command_agent(fleet_repo)
    account_id_schema(fleet_repo, schema)
    fleet_repo.write(SUITE, suite("outcome: resolved\n"))
    fleet_repo.commit("bad internal $ref")
    code, findings = validate(fleet_repo)
    assert code == 1
    assert located(findings) == {where(fleet_repo, CATALOG, needle)}
    assert says in findings[0]["message"]
    _, case = eval_case(fleet_repo, tmp_path / "results.json")  # no crash, no hang
    assert "arguments cannot be checked" in case["trajectory"]["tool_calls"][0]["error"]


def test_an_internal_defs_ref_still_works(fleet_repo: GitRepo, tmp_path: Path) -> None:
    use_command_agent(fleet_repo)
    account_id_schema(
        fleet_repo,
        "          $ref: '#/properties/account_id/$defs/account'\n"
        "          $defs: {account: {type: string, pattern: '^ACC-[0-9]{4,10}$'}}",
    )
    fleet_repo.write(
        SUITE,
        suite(
            "output:\n  json_schema:\n    $defs: {word: {type: string, maxLength: 5}}\n"
            "    properties: {summary: {$ref: '#/$defs/word'}}\n"
        ),
    )
    fleet_repo.commit("internal $ref")
    assert validate(fleet_repo) == (0, [])
    _, case = eval_case(fleet_repo, tmp_path / "results.json")
    refused = case["trajectory"]["tool_calls"][0]["error"]
    assert f"{WORD!r} does not match '^ACC-[0-9]{{4,10}}$'" in refused
    assert (
        case["failures"][0]["message"].startswith("output JSON fails the schema at summary: ")
        and "is too long" in case["failures"][0]["message"]
    )
