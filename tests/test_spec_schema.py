"""JSON Schemas: `alm schema`, `--check`, the committed schemas/ and the examples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.spec.schema import KINDS, SCHEMA_FOLDER, schema_files
from reconciler.spec.yamlsafe import load_documents
from tests.cli import run
from tests.gitrepo import GitRepo
from tests.test_spec_minifleet import MINI_FILES

PROJECT = Path(__file__).resolve().parent.parent
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)\s*$", re.MULTILINE)


def example_yaml_files() -> list[Path]:
    files = [
        *PROJECT.glob("agents/*/agent.yaml"),
        *PROJECT.glob("policies/*.yaml"),
        *PROJECT.glob("evals/*/*.yaml"),
    ]
    return sorted(files)


def schema_of(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_files()[f"{kind.lower()}.schema.json"])
    return schema


# --- the generated schemas -------------------------------------------------------------


def test_one_schema_per_kind_each_a_valid_json_schema() -> None:
    files = schema_files()
    assert sorted(files) == sorted(f"{kind.lower()}.schema.json" for kind in KINDS)
    for kind in KINDS:
        schema = schema_of(kind)
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"alm/v1/{kind.lower()}.schema.json"
        assert schema["properties"]["kind"]["const"] == kind
        assert schema["additionalProperties"] is False  # unknown fields are errors here too


def test_schema_output_is_stable() -> None:
    assert schema_files() == schema_files()
    for text in schema_files().values():
        assert text.endswith("}\n")
        assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text


def test_committed_schemas_are_current() -> None:
    folder = PROJECT / SCHEMA_FOLDER
    committed = {p.name: p.read_text("utf-8") for p in folder.glob("*.schema.json")}
    expected = schema_files()
    stale = sorted(n for n in expected if committed.get(n) != expected[n])
    assert stale == [], f"run `alm schema` and commit: {stale}"
    assert sorted(committed) == sorted(expected)


# --- the examples against their schemas ------------------------------------------------


def test_there_are_example_files() -> None:
    names = {p.relative_to(PROJECT).as_posix() for p in example_yaml_files()}
    assert "policies/tools.yaml" in names and "policies/environments.yaml" in names
    assert len([n for n in names if n.startswith("agents/")]) >= 4
    assert len([n for n in names if n.startswith("evals/")]) >= 4


@pytest.mark.parametrize(
    "path", example_yaml_files(), ids=lambda p: p.relative_to(PROJECT).as_posix()
)
def test_example_schema_line_points_to_its_schema(path: Path) -> None:
    text = path.read_text("utf-8")
    found = SCHEMA_LINE.findall(text)
    assert len(found) == 1, f"{path}: expected one `# yaml-language-server: $schema=` line"
    target = (path.parent / found[0]).resolve()
    assert target.is_file(), f"{path}: {found[0]} does not exist"
    assert target.parent == (PROJECT / SCHEMA_FOLDER).resolve()
    kinds = {doc.data["kind"] for doc in load_documents(path.name, path.read_bytes())}
    assert {f"{kind.lower()}.schema.json" for kind in kinds} == {target.name}


@pytest.mark.parametrize(
    "path", example_yaml_files(), ids=lambda p: p.relative_to(PROJECT).as_posix()
)
def test_example_documents_validate_against_their_schema(path: Path) -> None:
    for doc in load_documents(path.name, path.read_bytes()):
        validator = Draft202012Validator(schema_of(doc.data["kind"]))
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc.data)]
        assert errors == []


@pytest.mark.parametrize("rel", [r for r in MINI_FILES if r.endswith(".yaml")])
def test_mini_fleet_documents_validate_against_their_schema(rel: str) -> None:
    (doc,) = load_documents(rel, MINI_FILES[rel].encode())
    assert Draft202012Validator(schema_of(doc.data["kind"])).is_valid(doc.data)


def test_schema_refuses_what_the_model_refuses() -> None:
    path = PROJECT / "agents" / "support-triage" / "agent.yaml"
    (doc,) = load_documents(path.name, path.read_bytes())
    validator = Draft202012Validator(schema_of("Agent"))
    assert validator.is_valid(doc.data)

    typo = {**doc.data, "contract": {**doc.data["contract"], "must_nevr": []}}
    assert not validator.is_valid(typo)
    no_name = {
        **doc.data,
        "metadata": {k: v for k, v in doc.data["metadata"].items() if k != "name"},
    }
    assert not validator.is_valid(no_name)
    bad_name = {**doc.data, "metadata": {**doc.data["metadata"], "name": "Not A Name"}}
    assert not validator.is_valid(bad_name)
    wrong_kind = {**doc.data, "kind": "ToolCatalog"}
    assert not validator.is_valid(wrong_kind)
    bad_runtime = {**doc.data, "runtime": {"type": "ftp"}}
    assert not validator.is_valid(bad_runtime)


# --- alm schema / alm schema --check ---------------------------------------------------


def test_schema_writes_every_file_then_is_current(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "-C", str(mini.path), "schema", "--check")
    assert code == 1  # nothing written yet
    assert not (mini.path / SCHEMA_FOLDER).exists()

    code, out, _ = run(capsys, "-C", str(mini.path), "schema")
    assert code == 0
    assert out == f"wrote {len(KINDS)} schema files in {SCHEMA_FOLDER}/\n"
    written = {p.name: p.read_text("utf-8") for p in (mini.path / SCHEMA_FOLDER).iterdir()}
    assert written == schema_files()

    code, out, err = run(capsys, "-C", str(mini.path), "schema", "--check")
    assert (code, out, err) == (0, "schemas are current\n", "")
    code, out, _ = run(capsys, "-C", str(mini.path), "schema")
    assert (code, out) == (0, "schemas are current\n")


def test_schema_check_fails_when_stale_and_writes_nothing(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "-C", str(mini.path), "schema")[0] == 0
    stale = mini.path / SCHEMA_FOLDER / "agent.schema.json"
    stale.write_text("{}\n")
    (mini.path / SCHEMA_FOLDER / "pricing.schema.json").unlink()

    code, out, err = run(capsys, "-C", str(mini.path), "schema", "--check")
    assert code == 1
    assert out == ""
    assert err == (
        "out of date: schemas/agent.schema.json, schemas/pricing.schema.json; "
        "run `alm schema` and commit\n"
    )
    assert stale.read_text() == "{}\n"  # --check never writes

    code, out, _ = run(capsys, "-C", str(mini.path), "schema")
    assert (code, out) == (0, f"wrote 2 schema files in {SCHEMA_FOLDER}/\n")
    assert stale.read_text("utf-8") == schema_files()["agent.schema.json"]
    assert run(capsys, "-C", str(mini.path), "schema", "--check")[0] == 0


def test_schema_check_on_the_project(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-C", str(PROJECT), "schema", "--check")
    assert (code, out, err) == (0, "schemas are current\n", "")
