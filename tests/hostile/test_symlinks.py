"""Class 4: a symlink committed under agents/, policies/ or evals/ that leads out of the
repository is a finding at its path, never followed, never exit 4; in the working tree
and at a git ref (where git stores it as a blob of mode 120000)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli import run, run_process
from tests.gitrepo import GitRepo

OUT = "a symlink that leads out of the repository (or loops); expected a file or folder inside it"
SPEC = "a spec file is a symlink; expected a regular file"
ESCAPE = (
    "prompt path 'prompts/system.md' leaves the repository; expected a file inside "
    "agents/support-triage/"
)
PROMPT_AT = "agents/support-triage/agent.yaml:63:18"
PASSWD = "root:x:0"  # what /etc/passwd would show if it were read

# link path -> (target, the findings expected: "file:line:col" -> message start)
ATTACKS: dict[str, tuple[str, str, dict[str, str]]] = {
    "agent folder to /etc": ("agents/x", "/etc", {"agents/x:1:1": OUT}),
    "agent.yaml to /etc/passwd": (
        "agents/x/agent.yaml",
        "/etc/passwd",
        {"agents/x/agent.yaml:1:1": SPEC},
    ),
    "relative agent folder out": ("agents/y", "../../../../../../etc", {"agents/y:1:1": OUT}),
    "prompts folder to /etc": (
        "agents/support-triage/prompts",
        "/etc",
        {"agents/support-triage/prompts:1:1": OUT, PROMPT_AT: ESCAPE},
    ),
    "prompt file to /etc/passwd": (
        "agents/support-triage/prompts/system.md",
        "/etc/passwd",
        {PROMPT_AT: ESCAPE, "agents/support-triage/prompts/system.md:1:1": OUT},
    ),
    "policy file to /etc/passwd": (
        "policies/extra.yaml",
        "/etc/passwd",
        {"policies/extra.yaml:1:1": SPEC},
    ),
    "eval folder to /": ("evals/support-triage/data", "/", {"evals/support-triage/data:1:1": OUT}),
    "cassettes folder to /etc": (
        "evals/email-drafting/cassettes",
        "/etc",
        {"evals/email-drafting/cassettes:1:1": OUT},
    ),
    "a loop": ("agents/loop", "loop", {"agents/loop:1:1": OUT}),
}


def plant(repo: GitRepo, link: str, target: str) -> None:
    path = repo.path / link
    if path.is_dir() and not path.is_symlink():
        subprocess.run(["rm", "-rf", str(path)], check=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)
    repo.commit(f"link {link}")


def findings(output: str) -> dict[str, str]:
    data = json.loads(output)
    return {f"{f['file']}:{f['line']}:{f['column']}": f["message"] for f in data["findings"]}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("where", ["worktree", "ref"])
def test_a_link_out_is_a_finding_and_never_followed(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str], attack: str, where: str
) -> None:
    link, target, expected = ATTACKS[attack]
    plant(fleet_repo, link, target)
    args = ["validate", "--format", "json"]
    if where == "ref":  # the link is only in git: the working tree goes back to the fleet
        fleet_repo.git("tag", "hostile")
        fleet_repo.git("reset", "-q", "--hard", "HEAD~1")
        assert not (fleet_repo.path / link).is_symlink()
        args += ["--ref", "hostile"]
    code, out, err = run(capsys, "-C", str(fleet_repo.path), *args)
    assert code == 1, out + err
    found = findings(out)
    for where_at, message in expected.items():
        assert found.get(where_at, "").startswith(message), (where_at, found)
    assert set(found) == set(expected)
    assert PASSWD not in out + err and "Traceback" not in out + err


def test_a_link_inside_the_repository_is_followed(
    fleet_repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: a prompt shared by a relative link inside the repository loads."""
    plant(
        fleet_repo,
        "agents/support-triage/prompts/system.md",
        "../../email-drafting/prompts/system.md",
    )
    code, out, _ = run(capsys, "-C", str(fleet_repo.path), "validate", "--format", "json")
    assert code == 0 and findings(out) == {}


COMMANDS = [
    ["validate"],
    ["validate", "--ref", "HEAD"],
    ["policy", "check"],
    ["policy", "check", "--head", "HEAD"],
    ["diff", "--base", "HEAD~1"],
    ["codeowners", "--check"],
    ["eval", "--agent", "support-triage", "--case", "routing/sso*", "--out", "{out}"],
    ["eval", "--ref", "HEAD", "--agent", "support-triage", "--case", "routing/sso*"],
]


def test_no_command_crashes_on_links_out(fleet_repo: GitRepo, tmp_path: Path) -> None:
    """In real processes: exit 0 or 1 (2 only for a usage error), never 4, nothing read."""
    for link, target, _ in ATTACKS.values():
        if not link.startswith("agents/support-triage/prompts"):  # keep the agent loadable
            plant(fleet_repo, link, target)
    for command in COMMANDS:
        args = [a.replace("{out}", str(tmp_path / "r.json")) for a in command]
        done = run_process(fleet_repo.path, *args)
        output = done.stdout + done.stderr
        assert done.returncode in (0, 1), (command, output)
        assert "Traceback" not in output and "unexpected" not in output, (command, output)
        assert PASSWD not in output
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["cases"]  # --out written
