"""JSON Schemas of every document kind, for editors and other tools."""

from __future__ import annotations

import json

from pydantic import BaseModel

from reconciler.spec.agent import Agent
from reconciler.spec.catalog import Environments, Policy, Pricing, ToolCatalog
from reconciler.spec.evalsuite import EvalSuite

SCHEMA_FOLDER = "schemas"
KINDS: dict[str, type[BaseModel]] = {
    "Agent": Agent,
    "ToolCatalog": ToolCatalog,
    "Environments": Environments,
    "Policy": Policy,
    "Pricing": Pricing,
    "EvalSuite": EvalSuite,
}


def schema_files() -> dict[str, str]:
    """File name under schemas/ -> JSON text, stable byte for byte."""
    files: dict[str, str] = {}
    for kind, model in KINDS.items():
        schema = model.model_json_schema(by_alias=True)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"alm/v1/{kind.lower()}.schema.json",
            **schema,
        }
        files[f"{kind.lower()}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files
