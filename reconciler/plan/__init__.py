"""Plans: the semantic diff of the desired state, cost, and the PR report."""
