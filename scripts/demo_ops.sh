#!/usr/bin/env bash
# The demo's Operate/Improve part, on a repository whose fleet is deployed to prod as
# scripts/demo.sh leaves it (email-drafting rolled back and pinned, the others live; prod's
# target reachable, e.g. the demo registry with ALM_REGISTRY_TOKEN exported):
#   a new email-drafting revision goes out as a canary; a day of production traffic in
#   which that canary leaks card numbers (alm ops simulate, through the OpenTelemetry SDK);
#   ingest; the check shows the breach and the issue it would open, then rolls the canary
#   back (prod says on_breach: rollback); the unit-economics report with its charts; one
#   failure promoted to an eval case, which alm validate flags until a person reviews it.
#
# Usage: scripts/demo_ops.sh [REPO] [OUT]   (REPO: default the current directory;
#        OUT: where traces and the report go, default REPO/.alm/demo-ops)
# Every command's expected exit code is checked: a step that exits otherwise stops the demo.
set -euo pipefail
repo="$(cd "${1:-.}" && pwd)"
out="${2:-$repo/.alm/demo-ops}"
agent=email-drafting
mkdir -p "$out"
cd "$repo"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# expect CODE command...: run it, print it, and stop unless it exits with CODE
expect() {
  local want="$1" got=0
  shift
  printf '$ %s\n' "$*"
  "$@" || got=$?
  if [ "$got" != "$want" ]; then
    printf 'demo_ops: expected exit %s from %s, got %s\n' "$want" "$1" "$got" >&2
    exit 1
  fi
  [ "$want" = 0 ] || printf '(exit %s, as expected)\n' "$got"
}

say "11. A new revision of $agent goes to prod as a canary (the pin of the rollback lifted)"
expect 0 alm unpin "$agent" --env prod
expect 0 alm apply --env prod
expect 0 alm status --env prod

say "12. A day of production traffic, through the OpenTelemetry SDK (the canary breaches)"
# every live agent at its declared volume along a daily curve; the canary takes its
# canary_percent of $agent's traffic, the stable revision the rest
expect 0 alm ops simulate --out "$out/traces.jsonl.gz" --seed 7 --breach "$agent"

say "13. Ingest the traces (again: nothing is added twice)"
expect 0 alm ops ingest "$out/traces.jsonl.gz"
expect 0 alm ops ingest "$out/traces.jsonl.gz"

say "14. Check prod against each contract: the breach, and the issue it would open (exit 3)"
# --dry-run: nothing rolled back, no issue written; with --open-issues it prints the body of
# the one issue per agent and environment that the scheduled check opens or updates
expect 3 alm ops check --env prod --dry-run --open-issues

say "15. The same check for real: prod says on_breach: rollback (exit 3, rolled back, audited)"
expect 3 alm ops check --env prod
expect 0 alm status --env prod
expect 0 alm audit verify

say "16. Unit economics for finance: cost per task, run-rate against volume and budget, charts"
expect 0 alm ops report --format html --out "$out/report"
expect 0 alm ops report --format md --out "$out/report"
ls "$out/report"
printf '\nThe report, as a page: %s\n' "$(ls "$out"/report/*.html | head -n 1)"

say "17. A production failure becomes an eval case, masked, for a person to review"
expect 0 alm ops promote --failures --since 24h --agent "$agent" --limit 1
git status --short evals/
# the new case carries needs_review: validate fails until a person reviews it (exit 1)
expect 1 alm validate
