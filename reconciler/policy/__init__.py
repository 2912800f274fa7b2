"""Governance: policies as code (CEL), required approvals, CODEOWNERS, secret scanning.

Pure core: `check.check` takes loaded states, raw files and ownership, and returns
the report; `changes` is the only module that runs git.
"""
