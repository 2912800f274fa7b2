"""alm ops report from the command line: traces recorded through the OpenTelemetry SDK,
ingested with alm ops ingest into the embedded store, reported for the example fleet."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.ops.model import NS_PER_S
from reconciler.ops.tracegen import ModelStep, Recorder, TaskSpec, ToolStep
from tests.cli import run
from tests.gitrepo import GitRepo, init_repo

CHART_FILES = {"cost-per-task.png", "cost-trend.png", "run-rate.png", "cost-drivers.png"}
HOSTILE_MODEL = "<img src=x onerror=alert(1)>\x1b[2J"  # markup, and a terminal escape


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return init_repo(tmp_path / "repo")


@pytest.fixture
def db(capsys: pytest.CaptureFixture[str], repo: GitRepo, tmp_path: Path) -> Path:
    """A store holding an hour of the fleet's traces: support-triage on two revisions
    (some looping), email-drafting, and two tasks on models without a price."""
    recorder = Recorder("prod")
    start = time.time_ns() - 3600 * NS_PER_S
    lookup = ToolStep("ticketing.get_ticket", arguments={"ticket_id": "TCK-1"})
    for i in range(40):
        revision = "sha256:" + ("1" if i % 4 else "2") * 64
        tools = (lookup,) * (4 if i % 10 == 0 else 1)
        recorder.record(TaskSpec("support-triage", revision, start + i * 60 * NS_PER_S, tools))
    for i in range(10):
        big = ModelStep(model="gpt-4.1", input_tokens=3000, output_tokens=600)
        recorder.record(TaskSpec("email-drafting", "sha256:" + "3" * 64,
                                 start + i * 300 * NS_PER_S, model=big))  # fmt: skip
    for i, model in enumerate(("house-model-1", HOSTILE_MODEL)):
        unpriced = ModelStep(model=model, provider="acme")
        recorder.record(TaskSpec("sales-research", "sha256:" + "4" * 64,
                                 start + i * NS_PER_S, model=unpriced))  # fmt: skip
    path = recorder.write(tmp_path / "traces.jsonl.gz")
    store = tmp_path / "traces.db"
    code, out, err = alm(capsys, repo, "ops", "ingest", str(path), "--db", str(store))
    assert code == 0, err + out
    return store


def alm(capsys: pytest.CaptureFixture[str], repo: GitRepo, *args: str) -> tuple[int, str, str]:
    return run(capsys, "-C", str(repo.path), *args)


def test_markdown_report_with_charts(capsys, repo, db, tmp_path) -> None:
    out = tmp_path / "report"
    code, stdout, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                            "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"report.md", *CHART_FILES}
    assert f"wrote {out / 'report.md'} (4 charts)" in stdout
    assert "Spent $" in stdout and "on 52 tasks (2 unpriced, not included)" in stdout
    text = (out / "report.md").read_text()
    for chart in CHART_FILES:
        assert f"]({chart})" in text
    assert "support\\-triage" in text and "email\\-drafting" in text
    assert "house\\-model\\-1" in text and "<img" not in text
    assert "2 tasks used a model without a price" in text


def test_html_report_is_self_contained(capsys, repo, db, tmp_path) -> None:
    out = tmp_path / "html"
    code, _, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                       "--format", "html", "--out", str(out))  # fmt: skip
    assert code == 0, err
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert "img-src data:" in page and "default-src 'none'" in page
    assert HOSTILE_MODEL not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "http://" not in page and "https://" not in page


def test_default_folder_stdout_and_json(capsys, repo, db) -> None:
    code, stdout, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3")
    assert code == 0, err
    assert (repo.path / ".alm/ops/report/report.md").is_file()
    code, stdout, _ = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                          "--out", "-")  # fmt: skip
    assert code == 0 and stdout.startswith("# alm ops report") and "](" not in stdout
    assert "\x1b" not in stdout  # a terminal escape from a trace is never printed raw
    code, stdout, _ = alm(capsys, repo, "ops", "report", "--db", str(db), "--hours", "3",
                          "--format", "json", "--out", "-")  # fmt: skip
    data = json.loads(stdout)
    assert data["total"]["tasks"] == 52 and data["total"]["unpriced"] == 2
    assert {a["agent"] for a in data["agents"]} == {"support-triage", "email-drafting",
                                                    "sales-research"}  # fmt: skip


def test_an_empty_window_says_so(capsys, repo, db, tmp_path) -> None:
    out = tmp_path / "empty"
    code, stdout, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--since",
                            "2020-01-01T00:00:00Z", "--until", "2020-01-02T00:00:00Z",
                            "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert "(0 charts)" in stdout and "No tasks in this window" in stdout
    assert [p.name for p in out.iterdir()] == ["report.md"]


def test_a_bad_window_is_a_usage_error(capsys, repo, db) -> None:
    code, _, err = alm(capsys, repo, "ops", "report", "--db", str(db), "--since", "yesterday")
    assert code == 2 and "--since 'yesterday'" in err


def test_matplotlib_is_loaded_only_to_draw() -> None:
    script = (
        "import sys\nfrom reconciler.cli import main\n"
        "for args in (['--version'], ['ops', 'report', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "False"
