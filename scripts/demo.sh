#!/usr/bin/env bash
# The main job on the example fleet: validate, schemas, the semantic diff, policy, and the
# pull request report (alm plan) of a real change.
# Run through `make demo`, which puts the project's .venv/bin first on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || printf '(exit %s)\n' "$?"; }

cd "$here"
say "1. Validate the desired state of the example fleet"
run alm validate

say "2. JSON Schemas for editors are current"
run alm schema --check

say "3. A pull request: a temporary clone with a second commit that changes agents"
git clone -q "$here" "$work/repo"
cd "$work/repo"
for f in agents policies evals schemas; do rm -rf "$f"; cp -R "$here/$f" "$f"; done
git add -A
git -c user.name=demo -c user.email=demo@alm.invalid commit -q -m "base: the fleet as in the working tree" >/dev/null || true
python3 "$here/scripts/demo_change.py" "$work/repo"
# the team re-records support-triage's cassettes for its new model, prompt and tools (here the
# scripted responder answers as a weaker model would: scripts/record_cassettes.py)
python3 "$here/scripts/record_cassettes.py" --into "$work/repo" --agent support-triage --degraded >/dev/null
git add -A
git -c user.name=demo -c user.email=demo@alm.invalid commit -q -m "support-triage: cheaper model, CRM writes; sales-research: drop a rule"
run alm validate
run alm diff --base HEAD~1 --head HEAD

say "4. Policy as code: what the change violates, and whose approval it needs (exit 1)"
run alm policy check --base HEAD~1 --head HEAD
run alm codeowners --check

say "5. The pull request report: what the bot posts as its one sticky comment (exit 1: blocked)"
# Evals of the affected agents at base and head (replayed from cassettes, cache first), the
# paired comparison, approvals, cost at declared volume, what deploys where on merge.
mkdir -p "$here/.alm/demo"
run alm plan --base HEAD~1 --head HEAD --json "$here/.alm/demo/plan.json" \
  --out "$here/.alm/demo/report.md" --html "$here/.alm/demo/report.html"
printf '\nThe full report, as a page: %s\n' "$here/.alm/demo/report.html"

say "6. A broken change is pointed out with file:line:col (exit 1)"
# a typo in a grant, a duplicate key, and a grant that the agent's own must_never forbids
sed -i 's/^  - crm.search_contacts$/  - crm.search_contact/' agents/sales-research/agent.yaml
sed -i 's/^  - crm.get_account$/  - crm.get_account\n  - crm.delete_record/' agents/support-triage/agent.yaml
sed -i 's/^  purpose:/  purpose:\n  purpose:/' agents/email-drafting/agent.yaml
run alm validate
run alm validate --format github
