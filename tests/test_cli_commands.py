"""Commands are imported when run: `alm` alone, and loading a desired state without eval
suites, never load the eval engine, the policy compiler, the plan renderer or jsonschema."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reconciler.cli.commands import COMMANDS, load
from tests.registry_support import PROJECT

HEAVY = [
    "cel",
    "genai_prices",
    "jsonschema",
    "openai",
    "rich",
    "reconciler.evals",
    "reconciler.plan",
    "reconciler.policy",
    "reconciler.spec.evalsuite",
]
PROBE = """
import sys
{body}
print(" ".join(m for m in {heavy!r} if m in sys.modules))
"""


def _loaded(body: str) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_cli_alone_loads_no_command() -> None:
    assert _loaded("import reconciler.cli") == []


def test_a_state_without_suites_loads_no_suite_checks() -> None:
    body = (
        "from reconciler.spec import source\n"
        "from reconciler.spec.loader import load_snapshot\n"
        "state = load_snapshot(source.Snapshot('x', {}))"
    )
    assert _loaded(body) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_under_its_name(name: str) -> None:
    assert load(name).name == name


def test_the_deploy_commands_load_the_eval_engine_only_to_gate() -> None:
    """alm apply runs evals only for agents it gates; status, drift and a no-op apply
    never pay for importing them."""
    loaded = _loaded("import reconciler.cli.deploy_cmds")
    assert not [m for m in loaded if m.startswith(("reconciler.evals", "openai", "rich"))]
