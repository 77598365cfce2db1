"""`read_records`: the audit log's records in seq order, across segments.

Personal fields stored by reference come back resolved (or `[erased]`) unless `raw=True`; a raw
record is byte-for-byte what was hashed, which proofs and the SIEM stream need.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from warden_audit.adapters.sqlite_vault import SqliteVault, vault_path
from warden_audit.domain.personal import resolve
from warden_audit.segments import AuditLogCorrupt, complete_lines, list_segments


def read_segment(path: Path) -> Iterator[dict[str, Any]]:
    # An unterminated last line is a torn write that was never acknowledged: not a record.
    lines, _ = complete_lines(path.read_bytes())
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AuditLogCorrupt(f"unparsable record at {path.name}:{number}") from None
        if not isinstance(record, dict):
            raise AuditLogCorrupt(f"not a record at {path.name}:{number}")
        yield record


def read_records(audit_dir: Path, *, raw: bool = False) -> Iterator[dict[str, Any]]:
    """Yield every record in file order (= seq order for an intact log; `verify_log` proves it)."""
    vault = None if raw or not vault_path(audit_dir).exists() else SqliteVault.for_log(audit_dir)
    try:
        for _, path in list_segments(audit_dir):
            for record in read_segment(path):
                yield record if vault is None or "erasable" not in record else resolve(record, vault)
    finally:
        if vault is not None:
            vault.close()
