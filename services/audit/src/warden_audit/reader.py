"""`read_records`: the audit log's records in seq order, across segments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def read_records(audit_dir: Path) -> Iterator[dict[str, Any]]:
    """Yield every record in file order (= seq order for an intact log; `verify_log` proves it)."""
    for _, path in list_segments(audit_dir):
        yield from read_segment(path)
