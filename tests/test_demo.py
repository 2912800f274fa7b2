"""`make demo` keeps working: the script runs end to end on the project's example fleet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_demo_script_shows_validation_diff_policy_and_the_pr_report() -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [str(PROJECT / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "valid: 4 agents" in out
    assert "model gpt-4.1-mini → gpt-4.1-nano" in out
    assert "tool granted: crm.update_record (write, high risk)" in out
    assert "must_never rule removed: no-personal-contact-details" in out
    assert "required approvals" in out
    # the change narrows the rule that forbade the CRM write it grants, so it stays valid
    assert "/repo: valid: 4 agents" in out
    assert "must_never rule no-record-changes forbid_tools: removed crm.update_record" in out
    assert "new grant of crm.update_record: the tool's approvers [tool]" in out
    # the pull request report: a cheaper model that fails its contract, a new write tool
    # that needs security's approval, the cost at declared volume, and the page
    assert "## ⛔ alm plan: Blocked" in out
    assert "task\\_success\\_rate 0.4167" in out
    assert "| task\\_success\\_rate | 100.0% | 41.7% |" in out
    assert "newly failing" in out
    assert "needs approval from @&#8203;acme/security" in out
    assert "new grant **crm.update\\_record**: access write, risk high" in out
    assert "| support\\-triage | openai/gpt\\-4.1\\-mini → openai/gpt\\-4.1\\-nano |" in out
    assert "### On merge" in out and "### Provenance" in out
    page = PROJECT / ".alm" / "demo" / "report.html"
    assert f"The full report, as a page: {page}" in out
    assert "<details" in page.read_text("utf-8")
    assert "did you mean 'crm.search_contacts'?" in out
    # the broken change also grants a tool the agent's own must_never forbids
    assert (
        "error: tool 'crm.delete_record' is granted, but must_never rule 'no-record-changes' "
        "forbids 'crm.delete_record'"
    ) in out
    assert "title=alm grant-forbidden::" in out
    assert "invalid: 3 agents, 20 tools, 3 environments, 6 eval suites; 3 errors" in out
    assert "Traceback" not in out + done.stderr
