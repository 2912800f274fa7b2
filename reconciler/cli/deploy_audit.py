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


def logs(app: App, environment: str | None = None) -> list[AuditLog]:
    """One environment's log (an environment not declared at HEAD: its local log), or
    every log there is, in promotion order, then the other local ones by name."""
    envs = deploy_context.environments_at(app)
    chosen = [open_log(e, app.root, os.environ) for e in envs if environment in (None, e.name)]
    if environment is not None:
        return chosen or [local_log(app.root, environment)]
    named = {log.where for log in chosen}
    folder = audit.audit_folder(app.root)  # each log found is checked where it opens
    local = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return chosen + [local_log(app.root, p.stem) for p in local if str(p) not in named]


def recorded(log: AuditLog) -> bytes | None:
    """The log's bytes; None when nothing was ever recorded there (no log, no head)."""
    data = log.store.read()
    return data if data or log.store.head() is not None else None
