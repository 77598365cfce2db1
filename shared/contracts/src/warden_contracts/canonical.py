"""Canonical JSON (sorted keys, no insignificant whitespace) and hashes over it.

For the value types the catalog allows (str, int, bool, lists and objects of them) this is the
same byte string RFC 8785 produces, so signatures and chain hashes are reproducible anywhere.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def action_hash(kind: str, target: str, params: dict[str, Any]) -> str:
    """What an approver is shown and binds to: a changed action needs a new approval."""
    return sha256_hex({"kind": kind, "target": target, "params": params})
