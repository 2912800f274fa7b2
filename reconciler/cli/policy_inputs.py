"""What `alm policy check` and `alm plan` read to check a change against policy: the head
snapshot (its files are scanned for secrets), the changed files and the base's
CODEOWNERS."""

from __future__ import annotations

from reconciler.cli.app import App
from reconciler.errors import AlmError
from reconciler.policy import changes
from reconciler.policy import codeowners as owners
from reconciler.policy.check import CheckInput
from reconciler.spec import source
from reconciler.spec.loader import load_snapshot
from reconciler.spec.state import DesiredState


def snapshot(app: App, ref: str | None) -> source.Snapshot:
    if ref is not None:
        return source.from_git(app.root, ref, cassettes=True)  # scanned for secrets
    if not (app.root / "agents").is_dir():
        raise AlmError(
            f"no agents/ folder in {app.root}; expected an alm repository "
            "(run alm from its root or pass -C PATH)"
        )
    return source.from_worktree(app.root, cassettes=True)


def base_codeowners(app: App, base: str, state: DesiredState) -> owners.Codeowners:
    """The base's CODEOWNERS, as GitHub uses it; generated from its owners when it has none."""
    found = changes.codeowners_at(app.root, base)
    if found is not None:
        path, text = found
        return owners.parse(text, f"{path} at {base}")
    generated = owners.generate(state)
    return owners.parse(generated, f"generated from the owners at {base} (no CODEOWNERS there)")


def head_input(app: App, head: str | None) -> CheckInput:
    """The head state (loaded once, from the snapshot whose files are scanned) as a check
    of the state as it stands."""
    shot = snapshot(app, head)
    state = load_snapshot(shot, app.parse_cache)
    return CheckInput(state, {path: blob.data for path, blob in shot.files.items()})


def change_input(app: App, base: str, head: str | None, base_state: DesiredState) -> CheckInput:
    """The check of the change from base to head: changed files, the base's code owners."""
    inp = head_input(app, head)
    return CheckInput(
        inp.head,
        inp.files,
        base_state,
        tuple(changes.changed_files(app.root, base, head)),
        base_codeowners(app, base, base_state),
    )
