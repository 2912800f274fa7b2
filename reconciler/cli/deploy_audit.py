"""Which audit logs `alm audit verify`, `alm audit log` and `alm github deployed` read:
each environment's, where policies/environments.yaml at HEAD keeps it (`audit.store`),
and the local logs (.alm/audit/<env>.jsonl) of no store named there, e.g. an environment
since removed, or one that kept its log locally before it moved to a git branch."""

from __future__ import annotations

import os

from reconciler.cli import deploy_context
from reconciler.cli.app import App
from reconciler.deploy import audit
from reconciler.deploy.audit_git import AuditLog, local_log, open_log
from reconciler.deploy.targets.common import valid_name
from reconciler.spec.catalog import Environment


def logs(app: App, environment: str | None = None) -> list[AuditLog]:
    """One environment's log (an environment not declared at HEAD: its local log), or
    every log there is, in promotion order, then the other local ones by name."""
    envs = deploy_context.environments_at(app)
    chosen = [open_log(e, app.root, os.environ) for e in envs if environment in (None, e.name)]
    if environment is not None:
        return chosen or [_removed(app, envs, environment)]
    named = {log.where for log in chosen}
    folder = audit.audit_folder(app.root)  # each log found is checked where it opens
    local = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return chosen + [local_log(app.root, p.stem) for p in local if str(p) not in named]


def _removed(app: App, envs: list[Environment], environment: str) -> AuditLog:
    """The local log of an environment no longer declared; a usage error when there is
    none (a typo in --env must not verify "nothing" and exit 0)."""
    log = local_log(app.root, environment) if valid_name(environment) else None
    if log is None or recorded(log) is None:
        raise deploy_context.unknown_environment(envs, environment)
    return log


def recorded(log: AuditLog) -> bytes | None:
    """The log's bytes; None when nothing was ever recorded there (no log, no head)."""
    data = log.store.read()
    return data if data or log.store.head() is not None else None
