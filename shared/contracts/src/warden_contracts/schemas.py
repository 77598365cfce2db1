"""JSON Schema snapshots of every topic's payload and of the envelope.

`python -m warden_contracts.schemas --write` refreshes the checked-in snapshots after an
additive change; `breaking_changes` is what the contract test uses to refuse anything else.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from warden_contracts import topology as topo
from warden_contracts.envelope import Envelope

SNAPSHOT_DIR = Path(__file__).parent / "schemas"


def current_schemas() -> dict[str, dict[str, Any]]:
    schemas = {t.name: t.payload.model_json_schema() for t in topo.TOPICS}
    schemas["envelope"] = Envelope.model_json_schema()
    return schemas


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return _resolve(schema, schema["$defs"][ref.split("/")[-1]])
    return node


def _type_of(schema: dict[str, Any], node: dict[str, Any]) -> str:
    node = _resolve(schema, node)
    if "anyOf" in node:
        return "|".join(sorted(_type_of(schema, n) for n in node["anyOf"]))
    if "enum" in node:
        return "enum"
    return str(node.get("type", "object" if "properties" in node else "any"))


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Removed fields, changed types, newly required fields and removed enum values break readers."""
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_node in old_props.items():
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        old_t, new_t = _type_of(old, old_node), _type_of(new, new_props[name])
        if old_t != new_t and not set(old_t.split("|")) <= set(new_t.split("|")):
            problems.append(f"{where}: type {old_t} became {new_t}")
        old_r, new_r = _resolve(old, old_node), _resolve(new, new_props[name])
        if "enum" in old_r and not set(old_r["enum"]) <= set(new_r.get("enum", [])):
            problems.append(f"{where}: enum values removed")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        problems.append(f"{path}.{name}: became required" if path else f"{name}: became required")
    return problems


def snapshot_path(name: str) -> Path:
    return SNAPSHOT_DIR / f"{name}.json"


def write_snapshots() -> None:
    SNAPSHOT_DIR.mkdir(exist_ok=True)
    for name, schema in current_schemas().items():
        snapshot_path(name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="refresh the checked-in snapshots")
    if parser.parse_args().write:
        write_snapshots()
