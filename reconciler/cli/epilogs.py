"""What each command's --help shows under its options: examples and exit codes. One entry
per command path ("ops check"); reconciler.cli.commands attaches it when the command is
loaded, so the commands' own modules stay as they are. Every code is DESIGN.md's: 0 ok,
1 invalid input or a failed gate, 2 usage error, 3 drift or a breach, 4 unexpected."""

from __future__ import annotations

# usage errors and unexpected ones are the same for every command
_COMMON = "2 usage error, 4 unexpected error"


def _epilog(examples: tuple[str, ...], exits: str) -> str:
    # "\b" keeps click from rewrapping the examples into one line
    lines = "\n".join(f"  {example}" for example in examples)
    return f"\b\nExamples:\n{lines}\n\nExit codes: {exits}; {_COMMON}."


EPILOGS: dict[str, str] = {
    "validate": _epilog(
        ("alm validate", "alm validate --ref origin/main --format github"),
        "0 valid, 1 errors found",
    ),
    "schema": _epilog(("alm schema", "alm schema --check"), "0 written or current, 1 stale"),
    "diff": _epilog(
        ("alm diff --base origin/main", "alm diff --base v1 --head v2 --format json"),
        "0 (a report, whatever changed)",
    ),
    "policy check": _epilog(
        ("alm policy check", "alm policy check --base origin/main --format json"),
        "0 passed, 1 an error-severity violation or invalid input",
    ),
    "codeowners": _epilog(
        ("alm codeowners", "alm codeowners --write", "alm codeowners --check"),
        "0 printed, written or current, 1 out of date or validation fails",
    ),
    "eval": _epilog(
        ("alm eval --agent support-triage", "alm eval --shard 1/4 --out shard1.json"),
        "0 every gate passed, 1 a gate failed or a case could not run",
    ),
    "eval merge": _epilog(
        ("alm eval merge shard*.json --out results.json",),
        "0 merged, 1 a shard is invalid",
    ),
    "eval compare": _epilog(
        ("alm eval compare base.json head.json",),
        "0 no regression, 1 a regression flagged or the comparison incomplete",
    ),
    "plan": _epilog(
        ("alm plan --base origin/main --out report.md --json plan.json",),
        "0 ready or pending approvals, 1 blocked",
    ),
    "github pr": _epilog(
        ("alm github pr --report plan.json",),
        "0 posted (whatever the verdict), 1 report refused or not posted",
    ),
    "github deployed": _epilog(
        ("alm github deployed", "alm github deployed --report plan.json"),
        "0 commented (or nothing to comment on), 1 not posted",
    ),
    "apply": _epilog(
        ("alm apply --env staging --dry-run", "alm apply --env prod --prune"),
        "0 every agent applied, 1 an agent failed, the lock is held or the state is invalid",
    ),
    "status": _epilog(
        ("alm status --env prod", "alm status --env prod --format json"),
        "0 (a report, whatever is out of sync)",
    ),
    "rollback": _epilog(
        (
            "alm rollback support-triage --env prod",
            "alm rollback support-triage --env prod --to sha256:1a2b3c",
        ),
        "0 restored and pinned, 1 nothing to roll back or the write failed",
    ),
    "unpin": _epilog(
        ("alm unpin support-triage --env prod",), "0 unpinned or not pinned, 1 not deployed"
    ),
    "drift": _epilog(
        ("alm drift --env prod", "alm drift --env prod --open-issue"),
        "0 no drift (or drift.mode: warn), 3 drift found",
    ),
    "audit verify": _epilog(
        ("alm audit verify", "alm audit verify --env prod"), "0 every chain holds, 1 a bad line"
    ),
    "audit log": _epilog(
        ("alm audit log --env prod --agent support-triage",), "0 (records or none)"
    ),
    "registry serve": _epilog(
        ("ALM_TOKEN=secret alm registry serve --dir registry --port 8765 --token-env ALM_TOKEN",),
        "0 stopped by Ctrl-C or SIGTERM, 1 cannot listen",
    ),
    "ops ingest": _epilog(
        ("alm ops ingest traces.jsonl.gz", "gunzip -c traces.jsonl.gz | alm ops ingest -"),
        "0 stored (bad spans are counted, not errors), 1 a file missing or damaged",
    ),
    "ops check": _epilog(
        ("alm ops check --env prod --since 24h", "alm ops check --env prod --dry-run"),
        "0 every agent within its contract (or too few tasks to judge), 3 a breach",
    ),
    "ops promote-canary": _epilog(
        ("alm ops promote-canary email-drafting --env prod --dry-run",),
        "0 promoted or held, 1 no revision before the canary to roll back to or no trace "
        "store, 3 rolled back (or would be, with --dry-run)",
    ),
    "ops report": _epilog(
        ("alm ops report --format html", "alm ops report --format json --out -"),
        "0 written, 1 no trace store",
    ),
    "ops promote": _epilog(
        (
            "alm ops promote 4bf92f3577b34da6a3ce929d0e0e4736 --agent support-triage",
            "alm ops promote --failures --since 7d --limit 5 --dry-run",
        ),
        "0 cases written (or printed), 1 no such trace or no trace store",
    ),
    "ops simulate": _epilog(
        ("alm ops simulate --out traces.jsonl.gz --env prod --breach email-drafting",),
        "0 written",
    ),
}
