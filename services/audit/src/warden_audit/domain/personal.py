"""Personal free text kept out of the chain: stored by reference so it can be erased later.

The chained envelope holds `personal:<ref>` in place of the value, and the record's `erasable`
member holds, per field, the reference and a salted SHA-256 of the value. The value and its salt
live in a vault beside the log. Erasing deletes both: the chain, every hash and every signed
checkpoint stay valid, the digest proves what was there while the value exists, and without the
salt the digest cannot be brute-forced back into a short text.

Accountability identifiers (approver and operator ids) stay in the chain: they are what an audit
is for. Use pseudonymous account ids (Entra object ids) where that matters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Protocol

from warden_contracts.canonical import canonical_json

REF_PREFIX = "personal:"
ERASED = "[erased]"

# Data fields (top level of `data`) that hold personal free text, per topic; "*" applies to all.
PERSONAL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "sre.approval.decided.v1": ("reason", "identity_token"),
    "sre.control.changed.v1": ("reason",),
    "*": ("comment", "comments", "conversation", "transcript", "notes"),
}


class PersonalVault(Protocol):
    def put(self, ref: str, value: Any, *, principal: str | None, message_id: str) -> bytes:
        """Store `value` under `ref` durably; return its salt (the stored one if `ref` exists)."""

    def get(self, ref: str) -> tuple[Any, bytes] | None:
        """The value and salt, or None once erased."""


def personal_ref(message_id: str, field: str) -> str:
    # Derived, so a redelivered message reuses its reference instead of leaving orphans.
    return hashlib.sha256(f"{message_id}/{field}".encode()).hexdigest()[:32]


def salted_digest(salt: bytes, value: Any) -> str:
    return hashlib.sha256(salt + canonical_json(value)).hexdigest()


def fields_for(topic: str) -> tuple[str, ...]:
    return PERSONAL_FIELDS.get(topic, ()) + PERSONAL_FIELDS["*"]


def has_personal_fields(topic: str, envelope: Mapping[str, Any]) -> bool:
    data = envelope.get("data")
    return isinstance(data, dict) and any(data.get(field) for field in fields_for(topic))


def separate(
    topic: str, envelope: Mapping[str, Any], vault: PersonalVault, principal: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(envelope with references, `erasable` member); the values go to `vault` first."""
    data = envelope.get("data")
    if not isinstance(data, dict):
        return dict(envelope), {}
    message_id = str(envelope["id"])
    kept = dict(data)
    erasable: dict[str, Any] = {}
    for field in fields_for(topic):
        value = data.get(field)
        if value in (None, "", [], {}) or (isinstance(value, str) and value.startswith(REF_PREFIX)):
            continue
        ref = personal_ref(message_id, field)
        salt = vault.put(ref, value, principal=principal, message_id=message_id)
        kept[field] = REF_PREFIX + ref
        erasable[f"data.{field}"] = {"ref": ref, "digest": salted_digest(salt, value)}
    return {**envelope, "data": kept}, erasable


def resolve(record: Mapping[str, Any], vault: PersonalVault) -> dict[str, Any]:
    """A copy of `record` with its references replaced by the values (or `[erased]`), for reading."""
    erasable = record.get("erasable")
    if not isinstance(erasable, dict) or not erasable:
        return dict(record)
    envelope = dict(record["envelope"])
    data = dict(envelope.get("data") or {})
    for path, entry in erasable.items():
        field = path.removeprefix("data.")
        found = vault.get(entry["ref"])
        data[field] = ERASED if found is None else found[0]
    envelope["data"] = data
    return {**record, "envelope": envelope}
