"""Every bench run records how fast the machine was, at its start and its end."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench import Config, Result
from bench.calibrate import _workload, reference_ms


def test_reference_is_a_positive_time_of_a_fixed_workload() -> None:
    assert _workload() == _workload()  # the same work every time, so timings compare
    assert reference_ms(repeats=1) > 0


def test_a_bench_run_records_the_reference_before_and_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("bench_tiny_for_test")

    def run(config: Config) -> list[Result]:
        return [Result("tiny.value", 1.0, "s")]

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(bench_main, "REGISTRY", {"tiny": module.__name__})
    monkeypatch.setattr(bench_main, "RESULTS_DIR", tmp_path)

    assert bench_main.main(["tiny"]) == 0

    report = json.loads((tmp_path / "latest.json").read_text("utf-8"))
    assert report["reference_ms"]["before"] > 0
    assert report["reference_ms"]["after"] > 0
    assert [r["name"] for r in report["results"]] == ["tiny.value"]
    assert "machine speed: the reference workload took" in capsys.readouterr().out
