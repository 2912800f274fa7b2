"""Deploy: bundles, targets, the desired-vs-live plan, apply, audit, lock, rollback, drift."""
