#!/usr/bin/env bash
# The main job on the example fleet: validate, schemas, the semantic diff, policy, the pull
# request report (alm plan) of a real change; then the deploy: the fleet as it runs today
# applied to dev, staging and prod (a directory, a git branch, the reference http
# registry), the change merged and applied again, status, a rollback that sticks, the
# audit log verified; then production (scripts/demo_ops.sh): a canary, a day of traces
# through the OpenTelemetry SDK, ingest, the breach and the issue it would open, the
# automatic rollback, the unit-economics report with charts, a failure promoted to a case.
# Run through `make demo`, which puts the project's .venv/bin first on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
registry_pid=""
stop_registry() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
}
trap 'stop_registry; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || printf '(exit %s)\n' "$?"; }
commit() { git commit -q "$@"; }

cd "$here"
say "1. Validate the desired state of the example fleet"
run alm validate

say "2. JSON Schemas for editors are current"
run alm schema --check

say "3. A pull request: a temporary clone, a branch 'change' with a commit that changes agents"
git clone -q "$here" "$work/repo"
cd "$work/repo"
# no remote: the git target's branch (staging) moves in this clone only, never in yours
git remote remove origin
git config user.name demo && git config user.email demo@alm.invalid  # who commits and deploys
main="$(git branch --show-current)"
for f in agents policies evals schemas; do rm -rf "$f"; cp -R "$here/$f" "$f"; done
git add -A
commit -m "base: the fleet as in the working tree" >/dev/null || true
git checkout -q -b change
python3 "$here/scripts/demo_change.py" "$work/repo"
# the team re-records support-triage's cassettes for its new model, prompt and tools (here the
# scripted responder answers as a weaker model would: scripts/record_cassettes.py)
python3 "$here/scripts/record_cassettes.py" --into "$work/repo" --agent support-triage --degraded >/dev/null
git add -A
commit -m "support-triage: cheaper model, CRM writes; sales-research: drop a rule; email-drafting: canary 25%"
run alm validate
run alm diff --base "$main" --head change

say "4. Policy as code: what the change violates, and whose approval it needs (exit 1)"
run alm policy check --base "$main" --head change
run alm codeowners --check

say "5. The pull request report: what the bot posts as its one sticky comment (exit 1: blocked)"
# Evals of the affected agents at base and head (replayed from cassettes, cache first), the
# paired comparison, approvals, cost at declared volume, what deploys where on merge.
mkdir -p "$here/.alm/demo"
run alm plan --base "$main" --head change --json "$here/.alm/demo/plan.json" \
  --out "$here/.alm/demo/report.md" --html "$here/.alm/demo/report.html"
printf '\nThe full report, as a page: %s\n' "$here/.alm/demo/report.html"

say "6. A broken change is pointed out with file:line:col (exit 1)"
# a typo in a grant, a duplicate key, and a grant that the agent's own must_never forbids
sed -i 's/^  - crm.search_contacts$/  - crm.search_contact/' agents/sales-research/agent.yaml
sed -i 's/^  - crm.get_account$/  - crm.get_account\n  - crm.delete_record/' agents/support-triage/agent.yaml
sed -i 's/^  purpose:/  purpose:\n  purpose:/' agents/email-drafting/agent.yaml
run alm validate
run alm validate --format github
git checkout -q -- agents  # the broken edits were never committed

say "7. Before the merge: the fleet as it runs today, deployed to three kinds of target"
# the reference registry (docs/registry-protocol.md) on a free port, behind a bearer token
ALM_REGISTRY_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
export ALM_REGISTRY_TOKEN
printf '$ alm registry serve --dir %s --port 0 --token-env ALM_REGISTRY_TOKEN &\n' "$work/registry"
alm registry serve --dir "$work/registry" --port 0 --token-env ALM_REGISTRY_TOKEN \
  >"$work/registry.out" 2>"$work/registry.err" &
registry_pid=$!
for _ in $(seq 300); do  # ready once it prints its first line, which gives its URL
  [ -s "$work/registry.out" ] && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.err" >&2; exit 1; }
  sleep 0.05
done
head -n 1 "$work/registry.out"
url="$(head -n 1 "$work/registry.out" | grep -o 'http://127\.0\.0\.1:[0-9]*')"
# dev: a directory in the clone; staging: the clone's branch alm/deployments; prod: the
# registry. Committed on the main branch: alm apply deploys what is committed.
git checkout -q "$main"
run python3 "$here/scripts/demo_targets.py" "$work/repo" "$url"
commit -m "environments: dev on a directory, staging on a branch, prod on the demo registry" \
  -- policies/environments.yaml
run alm apply --env dev
run alm apply --env staging
run alm apply --env prod

say "8. Merge the pull request, then apply it in promotion order: only what passes its gates deploys"
run git merge -q --no-ff --no-edit change
git log --graph -4 --format='%h %<(70,trunc)%s'
run alm apply --env dev
run alm apply --env staging
run alm apply --env prod

say "9. A rollback that sticks: email-drafting back to its previous revision in prod"
run alm rollback email-drafting --env prod
run alm status --env prod
# the merge still wants the newer revision: apply leaves the pinned agent alone (exit 0)
run alm apply --env prod

say "10. The audit trail: every write in every environment, hash-chained"
run alm audit verify

# 11-17: production, on the same clone while the registry still runs (scripts/demo_ops.sh)
"$here/scripts/demo_ops.sh" "$work/repo" "$here/.alm/demo/ops"
