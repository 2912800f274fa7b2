"""Operate and improve: production traces against each agent's contract.

model (spans, tasks, windows, breaches) <- otlp (reading OTLP JSON) <- assemble (spans ->
tasks) <- store / clickhouse (task sources) <- online (tasks -> the evals' metrics) <-
check, canary, economics, promote. Pure except the sources and the writers at the edge.
"""
