"""Walking a parsed JSON document, for fuzz tests that change one of its nodes."""

from __future__ import annotations

from typing import Any


def node_paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path (keys and list indexes from the root), the root's `()` first."""
    out = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            out += node_paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += node_paths(item, (*here, index))
    return out
