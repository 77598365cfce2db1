"""Inclusion proofs: show that some records belong to the signed log without handing over the rest.

A bundle holds the records, one signed checkpoint and, per record, its Merkle audit path to the
checkpoint's root. Anyone with the audit public key checks it offline (`verify_bundle`): each
record's hash from its content, each path to the signed root, the signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden_audit.domain.chain import MalformedLine, record_hash, split_line
from warden_audit.domain.checkpoint import Checkpoint, MalformedCheckpoint, SignatureCheck
from warden_audit.domain.merkle import inclusion_proof, leaf_hash, root_from_proof
from warden_audit.segments import AuditLogCorrupt, complete_lines, list_segments
from warden_audit.verify import load_checkpoints

BUNDLE_FORMAT = "warden-audit-bundle/1"


class NotProvable(RuntimeError):
    """No signed checkpoint covers the records yet (or the log is damaged): nothing to prove against."""


def leaves_upto(audit_dir: Path, size: int) -> list[bytes]:
    """Merkle leaves of records 1..size, read cheaply from the stored lines."""
    leaves: list[bytes] = []
    for _, path in list_segments(audit_dir):
        lines, _ = complete_lines(path.read_bytes())
        for line in lines:
            if len(leaves) == size:
                return leaves
            try:
                parts = split_line(line)
            except MalformedLine as err:
                raise AuditLogCorrupt(f"unparsable record in {path.name}: {err}") from None
            if parts.seq != len(leaves) + 1:
                raise AuditLogCorrupt(f"{path.name}: expected seq {len(leaves) + 1}, found {parts.seq}")
            leaves.append(leaf_hash(parts.hash))
    if len(leaves) < size:
        raise AuditLogCorrupt(f"the log ends at seq {len(leaves)}, before the checkpoint at seq {size}")
    return leaves


def covering_checkpoint(audit_dir: Path, last_seq: int) -> Checkpoint:
    for cp in reversed(load_checkpoints(audit_dir)):
        if cp.seq >= last_seq:
            return cp
    raise NotProvable(f"no signed checkpoint covers seq {last_seq} yet; the audit service signs one shortly")


def bundle_for(audit_dir: Path, records: Iterable[Mapping[str, Any]], *, title: str = "") -> dict[str, Any]:
    """A proof bundle for `records` (as stored: personal fields by reference) against one checkpoint."""
    chosen = sorted(records, key=lambda r: int(r["seq"]))
    if not chosen:
        raise NotProvable("no records to prove")
    cp = covering_checkpoint(audit_dir, int(chosen[-1]["seq"]))
    leaves = leaves_upto(audit_dir, cp.seq)
    return {
        "format": BUNDLE_FORMAT,
        "title": title,
        "checkpoint": cp.to_json(),
        "records": [dict(r) for r in chosen],
        "proofs": {str(r["seq"]): inclusion_proof(leaves, int(r["seq"]) - 1) for r in chosen},
    }


@dataclass(frozen=True)
class BundleReport:
    ok: bool
    records: int
    checkpoint_seq: int
    problems: list[str]


def verify_bundle(bundle: Mapping[str, Any], check: SignatureCheck) -> BundleReport:
    problems: list[str] = []
    try:
        cp = Checkpoint.from_json(bundle["checkpoint"])
    except (KeyError, TypeError, MalformedCheckpoint) as err:
        return BundleReport(False, 0, 0, [f"bundle has no readable checkpoint: {err}"])
    if not cp.is_signed_by(check):
        problems.append(f"checkpoint at seq {cp.seq} is not signed by a trusted key (id {cp.key_id})")
    records = bundle.get("records") or []
    proofs = bundle.get("proofs") or {}
    for record in records:
        seq = record.get("seq") if isinstance(record, dict) else None
        if type(seq) is not int:
            problems.append("a record without an integer seq")
            continue
        if record_hash(record) != record.get("hash"):
            problems.append(f"record {seq}: content does not match its hash (edited)")
            continue
        try:
            root = root_from_proof(record["hash"], seq - 1, cp.seq, proofs.get(str(seq), []))
        except ValueError as err:
            problems.append(f"record {seq}: unusable proof: {err}")
            continue
        if root != cp.merkle_root:
            problems.append(f"record {seq}: its proof does not lead to the signed root of checkpoint {cp.seq}")
    if not records:
        problems.append("the bundle holds no records")
    return BundleReport(not problems, len(records), cp.seq, problems)
