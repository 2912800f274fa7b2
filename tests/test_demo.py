"""`make demo` keeps working: the script runs end to end on the project's example fleet.

It runs once (a module fixture, a real bash, real alm subprocesses, the real reference
registry on a free port); each test reads one part of its output."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
REV = r"sha256:[0-9a-f]{12}"


@dataclass(frozen=True)
class Demo:
    returncode: int
    out: str
    err: str
    refs_before: str
    refs_after: str

    def step(self, number: int) -> str:
        """The output of step `number` (from its `== N.` heading to the next one)."""
        parts = re.split(r"^\x1b\[1m== (\d+)\. ", self.out, flags=re.MULTILINE)
        steps = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
        return steps[number]


def _deploy_refs() -> str:
    """The project's own alm/* branches: the demo must never move them."""
    return subprocess.run(
        ["git", "for-each-ref", "refs/heads/alm/"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def demo() -> Demo:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    before = _deploy_refs()
    # its own session, so a timeout stops the script and the registry it started together
    proc = subprocess.Popen(
        [str(PROJECT / "scripts" / "demo.sh")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return Demo(proc.returncode, out, err, before, _deploy_refs())


def test_demo_runs_to_the_end_without_a_traceback(demo: Demo) -> None:
    assert demo.returncode == 0, demo.err
    assert "Traceback" not in demo.out + demo.err
    assert "== 10. The audit trail" in demo.out
    assert "== 17. " in demo.out


def test_demo_script_shows_validation_diff_policy_and_the_pr_report(demo: Demo) -> None:
    out = demo.out
    assert "valid: 4 agents" in out
    assert "model gpt-4.1-mini → gpt-4.1-nano" in out
    assert "tool granted: crm.update_record (write, high risk)" in out
    assert "must_never rule removed: no-personal-contact-details" in out
    assert "rollout canary_percent 10 → 25" in out
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


def test_demo_points_out_a_broken_change(demo: Demo) -> None:
    out = demo.step(6)
    assert "did you mean 'crm.search_contacts'?" in out
    # the broken change also grants a tool the agent's own must_never forbids
    assert (
        "error: tool 'crm.delete_record' is granted, but must_never rule 'no-record-changes' "
        "forbids 'crm.delete_record'"
    ) in out
    assert "title=alm grant-forbidden::" in out
    assert "invalid: 3 agents, 20 tools, 3 environments, 6 eval suites; 3 errors" in out


def test_demo_deploys_the_base_fleet_to_a_directory_a_branch_and_the_registry(
    demo: Demo,
) -> None:
    out = demo.step(7)
    assert re.search(
        r"^alm registry: serving .* on http://127\.0\.0\.1:\d+ "
        r"\(bearer token from ALM_REGISTRY_TOKEN\)$",
        out,
        re.MULTILINE,
    )
    assert re.search(r"^plan for dev \(directory .*/repo/\.alm/deployments/dev\)", out, re.M)
    assert re.search(r"^plan for staging \(git .*/repo/\.git branch alm/deployments\)", out, re.M)
    assert re.search(r"^plan for prod \(http http://127\.0\.0\.1:\d+\)", out, re.M)
    # before the merge every agent passes its gates: the whole fleet is created
    assert out.count("result: 4 created, 0 updated, 0 repaired, 0 deleted, 0 failed") == 2
    assert "result: 3 created, 0 updated, 0 repaired, 0 deleted, 0 failed" in out
    assert not re.search(r"^  held ", out, re.M) and "(exit" not in out


def test_demo_merges_the_change_and_only_what_passes_its_gates_deploys(demo: Demo) -> None:
    out = demo.step(8)
    assert "$ git merge -q --no-ff --no-edit change" in out
    assert "Merge branch 'change'" in out
    # the merge commit is what deploys
    merge = re.search(r"^\*   ([0-9a-f]{7,}) Merge branch 'change'", out, re.M)
    assert merge is not None
    heads = re.findall(r"desired state from HEAD \(([0-9a-f]{12})\)", out)
    assert len(heads) == 3 and all(h.startswith(merge.group(1)) for h in heads)
    for agent in ("email-drafting", "sales-research"):
        assert re.search(rf"^  updated   {agent}  {REV} -> {REV}$", out, re.M)
    # support-triage's cheaper model fails its contract: the evals gate holds it in dev,
    # and promotion order holds it after that
    assert re.search(
        rf"^  held      support-triage  {REV} -> {REV}  "
        r"\(evals fail: task_success_rate 0\.42 < min",
        out,
        re.M,
    )
    assert "is not live in dev yet" in out and "is not live in staging yet" in out
    assert not re.search(r"^  updated   support-triage", out, re.M)
    assert "(exit" not in out


def test_demo_rollback_pins_and_a_second_apply_leaves_it_pinned(demo: Demo) -> None:
    base = re.search(rf"^  created   email-drafting  ({REV})$", demo.step(7), re.M)
    merged = re.search(rf"^  updated   email-drafting  {REV} -> ({REV})$", demo.step(8), re.M)
    assert base is not None and merged is not None
    old, new = base.group(1), merged.group(1)
    out = demo.step(9)
    assert (
        f"email-drafting in prod: rolled back from {new} to {old} (bundle from the target's "
        "history) and pinned"
    ) in out
    assert re.search(
        rf"^  Pinned    email-drafting  live {old}  desired {new}  .*"
        rf"pinned to {old} by demo <demo@alm\.invalid>",
        out,
        re.M,
    )
    assert "1 Synced, 1 OutOfSync, 0 Missing, 1 Pinned" in out
    # the second apply: exit 0, the pinned agent listed and left alone
    after = out.split("$ alm apply --env prod", 1)[1]
    assert re.search(rf"^  pinned    email-drafting  {old} -> {new}  \(pinned to ", after, re.M)
    assert "plan: 0 create, 0 update, 0 repair, 0 delete, 1 unchanged, 1 pinned, 1 held" in after
    assert "left alone (pinned): email-drafting" in after
    assert "(exit" not in out


def test_demo_verifies_the_audit_log_of_every_environment(demo: Demo) -> None:
    out = demo.step(10)
    for env in ("dev", "staging", "prod"):
        assert re.search(rf"^ok: .*{env}\.jsonl.*: \d+ records, the chain holds$", out, re.M)
    assert "FAILED" not in out and "(exit" not in out


def test_demo_runs_production_to_the_last_step(demo: Demo) -> None:
    """Steps 11-17 (scripts/demo_ops.sh): each command's expected exit code is checked by
    the script itself; here, what a reader of the demo is shown."""
    assert "== 17. A production failure becomes an eval case" in demo.out
    traffic = demo.step(12)
    assert re.search(
        r"email-drafting +sha256:[0-9a-f]{12} +[\d,]+ tasks .* canary  breaching: \d+", traffic
    )
    again = demo.step(13).split("$ alm ops ingest", 2)[2]
    assert " 0 spans added, " in again and "0 bad spans" in again


def test_demo_shows_the_breach_and_the_issue_it_would_open(demo: Demo) -> None:
    out = demo.step(14)
    assert re.search(r"^BREACH email-drafting sha256:[0-9a-f]{12}: \d+ tasks", out, re.M)
    assert "<!-- alm:breach env=prod agent=email-drafting -->" in out
    assert "| policy\\_compliance | min 1 |" in out
    assert "alm ops promote " in out and "not rolled back (--dry-run)" in out
    assert "(exit 3, as expected)" in out


def test_demo_rolls_the_breaching_canary_back_and_audits_it(demo: Demo) -> None:
    out = demo.step(15)
    assert re.search(
        r"email-drafting: rolled back in prod from sha256:[0-9a-f]{12} to sha256:[0-9a-f]{12} "
        r"and pinned \(audited",
        out,
    )
    assert re.search(r"^  Pinned    email-drafting  live ", out, re.M)
    assert re.search(r"^ok: .*prod\.jsonl: \d+ records, the chain holds$", out, re.M)


def test_demo_writes_the_unit_economics_report_with_its_charts(demo: Demo) -> None:
    out = demo.step(16)
    assert re.search(r"^Spent \$[\d.,]+ on \d+ tasks in ", out, re.M)
    folder = PROJECT / ".alm" / "demo" / "ops" / "report"
    page = (folder / "report.html").read_text("utf-8")
    assert page.count('src="data:image/png;base64,') == 4
    charts = sorted(folder.glob("*.png"))
    assert len(charts) == 4 and all(c.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for c in charts)
    assert all(f"]({c.name})" in (folder / "report.md").read_text("utf-8") for c in charts)


def test_demo_promotes_a_failure_to_a_case_validate_flags_for_review(demo: Demo) -> None:
    out = demo.step(17)
    assert re.search(r"^prod-[0-9a-f]{12}-[0-9a-f]{6} \(email-drafting: violated ", out, re.M)
    assert "added to evals/email-drafting/production.yaml" in out
    assert "[case-needs-review]" in out and "(exit 1, as expected)" in out


def test_demo_leaves_no_registry_and_no_branch_behind(demo: Demo) -> None:
    url = re.search(r"on http://127\.0\.0\.1:(\d+) ", demo.out)
    assert url is not None
    with pytest.raises(ConnectionRefusedError), socket.socket() as sock:
        sock.connect(("127.0.0.1", int(url.group(1))))
    folder = re.search(r"^alm registry: serving (\S+)/registry on ", demo.out, re.M)
    assert folder is not None and not Path(folder.group(1)).exists()
    # the clone has no remote: staging's branch never reaches the project
    assert demo.refs_after == demo.refs_before


ENVIRONMENTS = """\
environments:
  - name: dev
    target:  # a branch: a hosted runner's disk does not last
      type: git
      branch: alm/deployments
    audit: {store: git, branch: alm/audit}
    gates:
      evals_pass: true
  - name: staging
    target:
      type: git
    gates:
      previous_environment: true
  - name: prod
    target:
      type: http
      url: https://registry.example
    gates:
      approvals: ["@acme/platform"]
    rollback_on_failure: true
"""


def _set_targets(root: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "demo_targets.py"), str(root), url],
        capture_output=True,
        text=True,
        check=False,
    )


def test_demo_targets_sets_one_target_of_each_kind_and_leaves_the_rest(tmp_path: Path) -> None:
    # the rest: dev's audit setting after its target, every gate, prod's rollback setting
    path = tmp_path / "policies" / "environments.yaml"
    path.parent.mkdir()
    path.write_text(ENVIRONMENTS, "utf-8")
    done = _set_targets(tmp_path, "http://127.0.0.1:4321")
    assert done.returncode == 0, done.stderr
    assert path.read_text("utf-8") == (
        ENVIRONMENTS.replace(
            "    target:  # a branch: a hosted runner's disk does not last\n"
            "      type: git\n      branch: alm/deployments\n",
            "    target:\n      type: directory\n      path: .alm/deployments/dev\n",
        )
        .replace(
            "    target:\n      type: git\n    gates:",
            "    target:\n      type: git\n      branch: alm/deployments\n    gates:",
        )
        .replace(
            "      url: https://registry.example\n",
            "      url: http://127.0.0.1:4321\n      token_env: ALM_REGISTRY_TOKEN\n",
        )
    )


@pytest.mark.parametrize(
    ("text", "url", "message"),
    [
        (ENVIRONMENTS.replace("name: staging", "name: qa"), "http://127.0.0.1:1", "'staging'"),
        (ENVIRONMENTS.replace("    target:\n      type: http", "    type: http"),
         "http://127.0.0.1:1", "environment 'prod' has no '    target:' block"),
        (ENVIRONMENTS, "http://registry.example:1", "not a local registry URL"),
    ],
)  # fmt: skip
def test_demo_targets_fails_loudly_on_a_file_it_does_not_know(
    tmp_path: Path, text: str, url: str, message: str
) -> None:
    path = tmp_path / "policies" / "environments.yaml"
    path.parent.mkdir()
    path.write_text(text, "utf-8")
    done = _set_targets(tmp_path, url)
    assert done.returncode == 1 and message in done.stderr
    assert path.read_text("utf-8") == text  # nothing half-edited
