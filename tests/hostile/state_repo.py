"""A fleet that deploys dev to a folder, its local state (.alm/) and live/ kept out of git
as a checkout keeps them: what the .alm/ link and committed-state tests attack."""

from __future__ import annotations

from pathlib import Path

from tests.gitrepo import GitRepo, deploy_repo

ENVIRONMENTS = """\
apiVersion: alm/v1
kind: Environments
environments:
  - name: dev
    target: {type: directory, path: live/dev}
    gates: {previous_environment: false, evals_pass: false}
    on_breach: rollback
"""


def state_repo(path: Path) -> GitRepo:
    made = deploy_repo(path, ENVIRONMENTS, "dev in a folder", "Dev One")
    made.write(".gitignore", ".alm/\nlive/\n")
    made.commit("deploy state kept out of git")
    return made
