"""Counts read in the right number everywhere alm prints one ("1 trial", never "1 trials"),
and an agent the plan could not evaluate is named once."""

from __future__ import annotations

import pytest

from reconciler.cli import main
from reconciler.evals.results import NotEvaluated
from reconciler.plan import render_html, render_md
from reconciler.plan.model import Evals
from reconciler.plan.render_common import tasks, trial_counts
from reconciler.spec.loader import load_ref
from reconciler.wording import noun, plural
from tests.gitrepo import GitRepo
from tests.test_plan_build import edit_prompt, plan, results, trials


def test_plural_and_noun() -> None:
    assert [plural(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
    assert plural(1, "policy", "policies") == "1 policy"
    assert plural(3, "policy", "policies") == "3 policies"
    assert f"{1200:,} {noun(1200, 'task')}" == "1,200 tasks"
    assert tasks(1) == "1 task" and tasks(120000) == "120,000 tasks"


def test_eval_of_one_trial_says_trial(mini: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-C", str(mini.path), "eval"])
    out, err = capsys.readouterr()
    assert code == 1  # the one case has no cassette: not run
    assert "1 trial: 0 run, 0 from the cache, 1 not run; 0 model calls" in err
    assert "helper: 1 trial not run: not recorded x1" in out
    assert "(1 of 1 trial not run;" in out.splitlines()[-1]


def test_validate_counts_one_agent_and_one_suite(
    mini: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["-C", str(mini.path), "validate"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "valid: 1 agent, 4 tools, 2 environments, 1 eval suite; 0 errors, 0 warnings" in out


def test_a_not_evaluated_agent_is_named_once_in_the_plan(mini: GitRepo) -> None:
    edit_prompt(mini)
    skipped = results(
        load_ref(mini.path, "HEAD"), [], not_evaluated=(NotEvaluated("helper", "no eval suite"),)
    )
    report = plan(mini, trials("P"), None, head_results=skipped)
    expected = "⚠️ helper: not evaluated at head: no eval suite"
    markdown = render_md.full(report)
    assert expected.replace(":", "\\:") in markdown  # markdown escapes the colons
    assert "not evaluated: helper" not in markdown
    page = render_html.render(report)
    assert expected in page and "not evaluated: helper" not in page


def test_the_plan_counts_one_trial(mini: GitRepo) -> None:
    edit_prompt(mini)
    report = plan(mini, trials("P"), trials("N"))
    assert report.evals.agents[0].cases[0].reason.startswith("1 of 1 trial could not run on head")
    one = Evals(ran=True, trials={"base_trials": 1, "head_trials": 1, "run": 2})
    assert trial_counts(one).startswith("1 trial at base, 1 at head: 2 run here")
    assert render_md.full(report).count("1 trials") == 0
