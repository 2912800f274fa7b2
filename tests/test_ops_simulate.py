"""alm ops simulate: a day of the example fleet's traffic written through the SDK, read back
with alm's own reader and assembly, and graded with the online metrics alm ops check uses."""

from __future__ import annotations

import gzip
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.deploy.bundle import desired_bundles
from reconciler.deploy.model import Bundle, CanaryPromotion, revision_of
from reconciler.evals.metrics import Metrics
from reconciler.ops import online
from reconciler.ops.assemble import assemble
from reconciler.ops.model import NS_PER_S, Span, Task
from reconciler.ops.otlp import read_files
from reconciler.ops.simprofile import AgentProfile, Deployed, build
from reconciler.ops.simulate import HOURLY, Settings, breach_begin, simulate
from reconciler.pricing import PriceBook
from reconciler.spec.loader import load_worktree
from reconciler.spec.state import DesiredState
from tests.cli import run
from tests.gitrepo import GitRepo, deploy_repo, init_repo

END = 1_796_040_000 * NS_PER_S  # a fixed "now": 2026-11-30T12:00:00Z
PROD = ("email-drafting", "invoice-processing", "support-triage")
PRICES = PriceBook()


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    return load_worktree(init_repo(tmp_path_factory.mktemp("fleet") / "repo").path)


def profiles(
    state: DesiredState, deployed: dict[str, Deployed] | None = None
) -> list[AgentProfile]:
    bundles = desired_bundles(state, "prod")
    fleet = deployed or {name: Deployed(bundle) for name, bundle in bundles.items()}
    made = []
    for name, entry in sorted(fleet.items()):
        spec = state.agent(name)
        assert spec is not None
        made.append(build(spec.agent, state.tools, entry, random.Random(name)))
    return made


def tasks_of(path: Path, known: Sequence[str]) -> list[Task]:
    traces: defaultdict[str, list[Span]] = defaultdict(list)
    for item in read_files([path]):
        assert isinstance(item, Span), item  # every line simulate writes reads back clean
        traces[item.trace_id].append(item)
    tasks: list[Task] = []
    for spans in traces.values():
        found, bad = assemble(spans, known)
        assert not bad, bad
        tasks.extend(found)
    return tasks


def metrics(state: DesiredState, tasks: Sequence[Task]) -> dict[str, Metrics]:
    agents = {s.name: s.agent for s in state.agents}
    by_key = online.window_metrics(tasks, agents, PRICES, state.tools)
    return {agent: m for (agent, _), m in by_key.items()}


def within_contract(state: DesiredState, agent: str, measured: Metrics) -> list[str]:
    """The declared bounds the point values break (an empty list: healthy)."""
    spec = state.agent(agent)
    assert spec is not None
    broken = []
    for metric, bound in spec.agent.contract.success_metrics.declared().items():
        value = measured.value(metric)
        if value is None:
            continue
        if (bound.min is not None and value < bound.min) or (
            bound.max is not None and value > bound.max
        ):
            broken.append(f"{metric}={value:.4f} outside {bound}")
    return broken


def test_the_same_seed_writes_the_same_file_and_another_seed_does_not(state, tmp_path) -> None:
    fleet = profiles(state)
    paths = [tmp_path / f"{name}.jsonl" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (7, 7, 8), strict=True):
        simulate(fleet, Settings(END, hours=1, seed=seed), path, PRICES)
    first, again, other = (p.read_bytes() for p in paths)
    assert first == again and len(first) > 10_000
    assert first != other


def test_volume_follows_each_agents_declared_volume(state, tmp_path) -> None:
    out = tmp_path / "day.jsonl"
    settings = Settings(END, hours=6)  # 06:00 to 12:00 UTC, along the daily curve
    report = simulate(profiles(state), settings, out, PRICES)
    counted = Counter(t.agent for t in tasks_of(out, PROD))
    assert counted == Counter({a: n for (a, _), n in report.tasks.items()})
    declared = {
        s.name: s.agent.contract.volume.tasks_per_month
        for s in state.agents
        if s.agent.contract.volume and s.name in PROD
    }
    for agent, per_month in declared.items():
        expected = per_month / (30.4375 * 24) * sum(HOURLY[6:12])
        assert 0.85 * expected < counted[agent] < 1.15 * expected, (agent, counted[agent])
    assert counted["support-triage"] > 5 * counted["invoice-processing"]


def test_a_healthy_day_stays_within_every_agents_contract(state, tmp_path) -> None:
    out = tmp_path / "day.jsonl.gz"
    # a whole day, at a volume small enough to grade quickly
    simulate(profiles(state), Settings(END, hours=24, seed=3, tasks_per_hour=12), out, PRICES)
    assert gzip.decompress(out.read_bytes()).count(b"\n") > 10
    tasks = tasks_of(out, PROD)
    measured = metrics(state, tasks)
    assert set(measured) == set(PROD)
    for agent, values in measured.items():
        assert within_contract(state, agent, values) == [], agent
        assert values.task_success_rate.value is not None
        assert values.task_success_rate.value < 1.0  # a realistic day has some failures
    assert any(c.error for t in tasks for c in t.tool_calls)  # timeouts, rate limits
    assert any(t.feedback == "negative" for t in tasks)
    assert any(t.escalation_expected is not None for t in tasks)
    assert any("4111" in (t.input_text or "") for t in tasks)  # PII in inputs, for masking


def test_breach_makes_one_agent_fail_its_contract_late_in_the_window(state, tmp_path) -> None:
    out = tmp_path / "breach.jsonl"
    settings = Settings(END, hours=8, seed=5, breach="support-triage", tasks_per_hour=40)
    report = simulate(profiles(state), settings, out, PRICES)
    tasks = tasks_of(out, PROD)
    results = online.window_results(
        tasks, {s.name: s.agent for s in state.agents}, PRICES, state.tools
    )
    failing = [r for (agent, _), rs in results.items() if agent == "support-triage" for r in rs]
    failed = [r for r in failing if r.status == "failed"]
    leaks = [r for r in failed if r.must_never_violated]
    assert len(leaks) > 5
    assert sum(report.breaching.values()) >= len(leaks)
    starts = {t.trace_id: t.start_ns for t in tasks}
    mine = sorted(t.start_ns for t in tasks if t.agent == "support-triage")
    assert all(starts[online.trace_id(r)] >= breach_begin(mine, settings) for r in leaks)
    measured = metrics(state, tasks)
    broken = within_contract(state, "support-triage", measured["support-triage"])
    assert any(b.startswith("policy_compliance") for b in broken)
    assert any(b.startswith("task_success_rate") for b in broken)
    for agent in ("email-drafting", "invoice-processing"):
        assert within_contract(state, agent, measured[agent]) == [], agent


def canary_fleet(state: DesiredState) -> dict[str, Deployed]:
    bundles = desired_bundles(state, "prod")
    live = bundles["email-drafting"]
    content = {**live.content, "model": {**live.content["model"], "name": "gpt-4.1"}}
    stable = Bundle(
        agent=live.agent, environment="prod", revision=revision_of(content), content=content
    )
    return {"email-drafting": Deployed(live, stable.revision, stable)}


def test_canary_traffic_is_split_between_the_canary_and_the_stable_revision(state, tmp_path):
    fleet = profiles(state, canary_fleet(state))
    (email,) = fleet
    assert email.canary == email.arms[0].revision and email.arms[0].share == pytest.approx(0.1)
    out = tmp_path / "canary.jsonl"
    report = simulate(fleet, Settings(END, hours=4, tasks_per_hour=300), out, PRICES)
    tasks = tasks_of(out, PROD)
    by_revision = Counter(t.revision for t in tasks)
    canary, stable = email.arms[0].revision, email.arms[1].revision
    assert set(by_revision) == {canary, stable}
    assert 0.06 < by_revision[canary] / len(tasks) < 0.14, by_revision
    models = {t.revision: {m.model for m in t.model_calls} for t in tasks}
    assert models[stable] == {"gpt-4.1"} and models[canary] == {"gpt-4.1-mini"}
    assert report.canaries == {"email-drafting": canary}


def test_a_pinned_canary_takes_all_the_traffic(state) -> None:
    fleet = canary_fleet(state)
    entry = fleet["email-drafting"]
    pinned = entry.live.model_copy(
        update={"pin": {"revision": entry.live.revision, "at": "2026-11-30T00:00:00Z", "by": "x"}}
    )
    (email,) = profiles(state, {"email-drafting": Deployed(pinned, entry.stable_revision)})
    assert email.canary is None and [a.share for a in email.arms] == [1.0]


def test_a_promoted_canary_takes_the_share_it_was_promoted_to(state) -> None:
    entry = canary_fleet(state)["email-drafting"]
    for percent, shares in ((100, [1.0]), (50, [0.5, 0.5])):
        promotion = {"traffic_percent": percent, "at": "2026-11-30T00:00:00Z", "by": "x"}
        live = entry.live.model_copy(update={"promotion": CanaryPromotion(**promotion)})
        (email,) = profiles(state, {"email-drafting": Deployed(live, entry.stable_revision)})
        assert [a.share for a in email.arms] == shares


# --- the command ------------------------------------------------------------------------

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: prod
    target: {type: directory, path: .alm/deployments/prod}
    gates: {evals_pass: false}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return deploy_repo(tmp_path / "repo", ENVIRONMENTS, "prod on a directory", "Dev One")


def test_the_command_splits_a_canary_after_an_apply_and_refuses_an_unknown_breach(
    capsys, repo
) -> None:
    code, _, err = run(capsys, "-C", str(repo.path), "apply", "--env", "prod")
    assert code == 0, err
    repo.replace("agents/email-drafting/agent.yaml", "temperature: 0.3", "temperature: 0.2")
    repo.commit("email-drafting: cooler")
    code, _, err = run(capsys, "-C", str(repo.path), "apply", "--env", "prod")
    assert code == 0, err
    out_file = repo.path / "traces.jsonl.gz"
    code, out, err = run(
        capsys,
        "-C",
        str(repo.path),
        "ops",
        "simulate",
        "--out",
        str(out_file),
        "--hours",
        "2",
        "--breach",
        "nope",
    )
    assert code == 2 and "--breach nope" in err and "email-drafting" in err
    assert not out_file.exists()
    code, out, err = run(
        capsys,
        "-C",
        str(repo.path),
        "ops",
        "simulate",
        "--out",
        str(out_file),
        "--hours",
        "2",
        "--seed",
        "1",
        "--breach",
        "invoice-processing",
        "--tasks-per-hour",  # traffic follows the hour of day: at a quiet hour, the
        "200",  # canary's 25% of a contract's volume could draw no task in 2 hours
    )
    assert code == 0, err
    assert gzip.decompress(out_file.read_bytes()).startswith(b'{"resourceSpans"')
    lines = {
        line.split()[0]
        + (" canary" if "canary" in line else "")
        + (" stable" if "stable" in line else "")
        for line in out.splitlines()[1:]
    }
    assert {
        "email-drafting canary",
        "email-drafting stable",
        "invoice-processing",
        "support-triage",
    } <= lines
    assert "breaching" in next(li for li in out.splitlines() if "invoice-processing" in li)
    revisions = Counter(t.revision for t in tasks_of(out_file, PROD) if t.agent == "email-drafting")
    assert len(revisions) == 2


def test_a_breach_ending_at_a_quiet_hour_still_holds_a_quarter_of_the_agents_tasks(
    state, tmp_path
) -> None:
    """A day ending at 02:00 UTC: its last quarter (20:00 to 02:00) is the quiet end of the
    daily curve, a tenth of the tasks. The breach must still fill a quarter of them, or
    the demo's check finds three leaks at night and none some nights."""
    night = END - 10 * 3600 * NS_PER_S  # 2026-11-30T02:00:00Z
    settings = Settings(night, hours=24, seed=7, breach="email-drafting")
    mine = [p for p in profiles(state) if p.name == "email-drafting"]
    report = simulate(mine, settings, tmp_path / "night.jsonl", PRICES)
    [(key, breaching)] = [(k, n) for k, n in report.breaching.items() if n]
    assert key[0] == "email-drafting"
    assert breaching >= 0.1 * report.tasks[key]  # a quarter loud, about half of those leak
