"""What alm apply, status, rollback, unpin and drift share: the desired state at a ref,
the environment and its target, the previous environment in promotion order, the audit
log and lock paths, and who is deploying (from GitHub under Actions, else from git)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.cli.app import App
from reconciler.deploy import audit, audit_git, lock
from reconciler.deploy.bundle import desired_bundles
from reconciler.deploy.journal import utc_now
from reconciler.deploy.model import Bundle, Deployment, Live, Scan
from reconciler.deploy.plan import Promotion, gate_environment
from reconciler.deploy.targets import BatchTarget, open_target
from reconciler.errors import AlmError, UsageError
from reconciler.spec import source
from reconciler.spec.catalog import Environment
from reconciler.spec.loader import load_snapshot
from reconciler.spec.state import DesiredState

DEFAULT_REF = "HEAD"
EVALS = "evals/"
POLICIES = "policies/"


@dataclass
class EnvContext:
    """One environment at one commit. The environments come from policies/ alone; the
    whole desired state (every agent) is loaded only when asked for."""

    app: App
    snapshot: source.Snapshot  # the commit's agents/ and policies/ (no eval suites)
    environments: list[Environment]
    environment: Environment
    ref: str
    commit: str | None
    _state: DesiredState | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def state(self) -> DesiredState:
        if self._state is None:
            self._state = _checked(load_snapshot(self.snapshot, self.app.parse_cache), self.ref)
        return self._state

    def fingerprint(self) -> str:
        """The files the desired bundles are built from, hashed (no parsing)."""
        digest = hashlib.sha256()
        for path in sorted(self.snapshot.files):
            blob = self.snapshot.files[path]
            digest.update(f"{path}\0{blob.size}\0{blob.link}\0".encode())
            digest.update(blob.data or b"")
        return digest.hexdigest()

    def target(self) -> BatchTarget:
        return open_target(self.environment, self.app.root, os.environ)

    def desired(self) -> dict[str, Bundle]:
        return desired_bundles(self.state, self.name)

    def earlier_targets(self) -> list[tuple[str, BatchTarget]]:
        """The environments before this one and their targets, when its gates want the
        previous environment (each agent's is one of them: `promotion`)."""
        envs = earlier_environments(self.environments, self.environment)
        return [(env.name, open_target(env, self.app.root, os.environ)) for env in envs]

    def promotion(self) -> Promotion | None:
        """Per desired agent, the nearest earlier environment it lists, and the live state
        of those environments (only they are read); None without the gate."""
        if not self.environment.gates.previous_environment:
            return None
        order = [e.name for e in self.environments]
        gate = {
            s.name: gate_environment(order, self.name, s.agent.deploy.environments)
            for s in self.state.agents
            if self.name in s.agent.deploy.environments
        }
        needed = set(gate.values())
        live: dict[str, dict[str, Live]] = {}
        for env in earlier_environments(self.environments, self.environment):
            if env.name in needed:
                # an unreadable entry there is not live there: the agent is held, not raised
                live[env.name] = open_target(env, self.app.root, os.environ).scan().lives
        return Promotion(gate, live)

    def audit_store(self) -> audit.AuditStore:
        """Where `audit.store` in the environment's settings says (local or a git branch)."""
        return audit_git.open_log(self.environment, self.app.root, os.environ).store

    def lock_path(self) -> Path:
        return lock.lock_path(self.app.root, self.name)


def load(app: App, environment: str, ref: str | None) -> EnvContext:
    """The environment as the desired state at `ref` (HEAD by default) defines it."""
    wanted = ref or DEFAULT_REF
    commit = source.resolve_ref(app.root, wanted)
    snapshot = source.from_git(app.root, commit)
    kept = {p: b for p, b in snapshot.files.items() if not p.startswith(EVALS)}
    deployable = source.Snapshot(snapshot.label, kept)
    envs = _environments(app, deployable, wanted)
    env = environment_of(envs, environment)
    return EnvContext(app, deployable, envs, env, wanted, commit)


def environments_at(app: App, ref: str | None = None) -> list[Environment]:
    """The environments policies/ declares at `ref` (HEAD by default), in promotion order."""
    wanted = ref or DEFAULT_REF
    snapshot = source.from_git(app.root, source.resolve_ref(app.root, wanted))
    return _environments(app, snapshot, wanted)


def _environments(app: App, snapshot: source.Snapshot, ref: str) -> list[Environment]:
    policies = {p: b for p, b in snapshot.files.items() if p.startswith(POLICIES)}
    settings = _checked(
        load_snapshot(source.Snapshot(snapshot.label, policies), app.parse_cache), ref
    )
    return settings.environments[0].model.environments if settings.environments else []


def _checked(state: DesiredState, ref: str) -> DesiredState:
    """The state, unless a file of it cannot be read as what it must be. Eval suites are
    left out: a bundle holds none, and a large fleet's suites would double every apply."""
    if state.errors:
        first, count = state.errors[0], len(state.errors)
        raise AlmError(
            f"the desired state at {ref} is invalid ({count} error{'s' * (count != 1)}; first: "
            f"{first.location}: {first.message}); run alm validate --ref {ref}",
            state.errors,
        )
    return state


def environment_of(envs: list[Environment], name: str) -> Environment:
    for env in envs:
        if env.name == name:
            return env
    raise unknown_environment(envs, name)


def unknown_environment(envs: list[Environment], name: str) -> UsageError:
    known = ", ".join(e.name for e in envs) or "none"
    return UsageError(
        f"unknown environment {name!r}; expected one of {known} (policies/environments.yaml)"
    )


def earlier_environments(envs: list[Environment], env: Environment) -> list[Environment]:
    """The environments before `env` in promotion order, when its gates want the previous
    one healthy (an agent's previous one is the nearest it lists: deploy.plan)."""
    if not env.gates.previous_environment:
        return []
    names = [e.name for e in envs]
    return envs[: names.index(env.name)]


def deployment(root: Path, commit: str | None, ref: str | None) -> tuple[Deployment, list[str]]:
    """Who deploys, and notes to print: GitHub's provenance (the merged pull request, who
    merged and approved it) under Actions, else the git user of this checkout."""
    base = Deployment(at=utc_now(), by=git_user(root, os.environ), commit=commit, ref=ref)
    if commit is None or os.environ.get("GITHUB_ACTIONS") != "true":
        return base, []
    import requests  # PyGithub and requests only for the commands that need them
    from github import GithubException

    from reconciler.github import provenance

    if not provenance.under_actions():
        return base, ["GITHUB_TOKEN is not set: the deployer is taken from git"]
    try:
        found, log = provenance.from_env(commit)
    except (GithubException, requests.RequestException, AlmError) as exc:
        return base, [f"GitHub provenance unavailable ({type(exc).__name__}); deployer from git"]
    fields = {**found.deployment_fields(), "merged_by": found.merged_by}
    if not fields["by"]:
        fields["by"] = base.by
    return base.model_copy(update=fields), [*log, *([found.why] if found.why else [])]


def git_user(root: Path, env: Mapping[str, str]) -> str:
    """`Name <email>` from git's config, else the login name."""
    parts = [_git_config(root, key) for key in ("user.name", "user.email")]
    name, email = parts
    if name and email:
        return f"{name} <{email}>"
    return name or email or env.get("USER") or env.get("LOGNAME") or "unknown"


def _git_config(root: Path, key: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "config", "--get", key],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def unreadable_notes(scan: Scan, environment: str) -> list[str]:
    """What commands that only read the target (ops check, simulate) say of an entry that
    is not a bundle, instead of stopping: that agent's live revision is unknown."""
    return [
        f"{entry.words()}: {name}'s live revision in {environment} is unknown "
        f"(alm apply --env {environment} repairs it)"
        for name, entry in sorted(scan.unreadable.items())
    ]
