"""`import reconciler.cli` (what every `alm` run pays before its command) loads no heavy
module: each command imports what it uses when it runs. A test of what is imported, in a
fresh interpreter, not of seconds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "rich",
    "openai",
    "httpx",
    "jsonschema",
    "cel",
    "celpy",
    "genai_prices",
    "opentelemetry",
    "pydantic",
    "yaml",
    "github",
    "matplotlib",
    "deepdiff",
)


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


@pytest.mark.parametrize(
    "code",
    [
        "import reconciler.cli",
        "from reconciler.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n"
        "    pass",
    ],
    ids=["import", "alm --version"],
)
def test_startup_imports_no_heavy_module(code: str) -> None:
    loaded = _imported_after(code) & set(HEAVY)
    assert loaded == set(), f"imported at start-up: {sorted(loaded)}"


def test_the_probe_sees_heavy_imports() -> None:
    """The probe itself works: a command module that needs pydantic does import it."""
    assert "pydantic" in _imported_after("import reconciler.spec.agent")
