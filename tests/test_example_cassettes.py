"""The example fleet ships cassettes for two models per agent: every trial replays, and
every cassette says it came from the scripted reference responder, not a real model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.gitrepo import PROJECT, init_repo

MODEL_B = "gpt-4.1-nano"
RESPONDER = "scripted reference responder in scripts/record_cassettes.py"


def _cassettes() -> list[Path]:
    return sorted((PROJECT / "evals").glob("*/cassettes/*.json"))


def test_every_cassette_names_the_scripted_responder() -> None:
    cassettes = _cassettes()
    assert cassettes
    for path in cassettes:
        provenance = json.loads(path.read_text("utf-8"))["provenance"]
        assert provenance["produced_by"] == RESPONDER, path
        assert provenance["real_model_called"] is False and provenance["synthetic"] is True
        assert "NOT by the named model" in provenance["note"]


@pytest.mark.parametrize("model_b", [False, True], ids=["declared-model", MODEL_B])
def test_example_fleet_replays_every_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model_b: bool
) -> None:
    repo = init_repo(tmp_path / "repo")
    if model_b:
        for spec in (repo.path / "agents").glob("*/agent.yaml"):
            text = spec.read_text("utf-8")
            swapped = re.sub(r"(?m)^(model:\n(?:  .*\n)*?  name: )\S+$", rf"\g<1>{MODEL_B}", text)
            spec.write_text(swapped, "utf-8")
    out = tmp_path / "results.json"
    main(["-C", str(repo.path), "eval", "--no-cache", "--out", str(out)])
    capsys.readouterr()
    cases = json.loads(out.read_text("utf-8"))["cases"]
    assert {c["agent"] for c in cases} == {
        "email-drafting",
        "invoice-processing",
        "sales-research",
        "support-triage",
    }
    assert [c["case_id"] for c in cases if c["status"] == "not_run"] == []
