#!/usr/bin/env bash
# The main job on the example fleet: validate, schemas, and the semantic diff of a real change.
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
git add -A
git -c user.name=demo -c user.email=demo@alm.invalid commit -q -m "support-triage: cheaper model, CRM writes; sales-research: drop a rule"
run alm validate
run alm diff --base HEAD~1 --head HEAD

say "4. Policy as code: what the change violates, and whose approval it needs (exit 1)"
run alm policy check --base HEAD~1 --head HEAD
run alm codeowners --check

say "5. Evals from the shipped cassettes, then a model swap compared on paired cases (exit 1)"
# Cassettes are synthetic: written by the scripted reference responder in
# scripts/record_cassettes.py (gpt-4.1-nano answers are its degraded variant), no real model.
cd "$here"
run alm eval --no-cache --out "$work/base.json"
mkdir -p "$work/swap"
for f in agents policies evals; do cp -R "$here/$f" "$work/swap/$f"; done
sed -i 's/^  name: gpt-4.1-mini$/  name: gpt-4.1-nano/' "$work/swap/agents/support-triage/agent.yaml"
cd "$work/swap"
run alm eval --no-cache --agent support-triage --out "$work/head.json"
run alm eval compare "$work/base.json" "$work/head.json"
cd "$work/repo"

say "6. A broken change is pointed out with file:line:col (exit 1)"
# a typo in a grant, a duplicate key, and a grant that the agent's own must_never forbids
sed -i 's/^  - crm.search_contacts$/  - crm.search_contact/' agents/sales-research/agent.yaml
sed -i 's/^  - crm.get_account$/  - crm.get_account\n  - crm.delete_record/' agents/support-triage/agent.yaml
sed -i 's/^  purpose:/  purpose:\n  purpose:/' agents/email-drafting/agent.yaml
run alm validate
run alm validate --format github
