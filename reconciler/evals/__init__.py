"""The Test stage: run agents against their eval suites, score, compare base vs head."""
