"""Look-ups over the local audit log for the CLI and investigators."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

from warden_audit.domain.chain import MalformedLine, split_line
from warden_audit.history import Window
from warden_audit.reader import read_records, read_segment
from warden_audit.segments import complete_lines, list_segments


def records_for(audit_dir: Path, correlationid: str) -> list[dict[str, Any]]:
    """Every record of one incident (correlation id), in seq order."""
    # Cheap pre-filter on the raw line before parsing the envelope; the parsed field decides.
    needle = b'"correlationid":' + json.dumps(correlationid, ensure_ascii=False).encode()
    found: list[dict[str, Any]] = []
    for _, path in list_segments(audit_dir):
        lines, _ = complete_lines(path.read_bytes())
        for line in lines:
            if needle in line:
                record = json.loads(line)
                if record.get("correlationid") == correlationid:
                    found.append(record)
    return found


def records_of_type(
    audit_dir: Path, message_type: str, window: Window = Window(), limit: int = 100
) -> list[dict[str, Any]]:
    """The newest `limit` records of one message type inside `window` (on `recorded_at`), in seq order."""
    needle = b'"type":' + json.dumps(message_type, ensure_ascii=False).encode()
    newest: deque[dict[str, Any]] = deque(maxlen=limit)
    for _, path in list_segments(audit_dir):
        lines, _ = complete_lines(path.read_bytes())
        for line in lines:
            if needle in line:
                record = json.loads(line)
                if record.get("type") == message_type and window.admits_time(record):
                    newest.append(record)
    return list(newest)


def records_since(audit_dir: Path, seq: int) -> list[dict[str, Any]]:
    """Records with a sequence number greater than `seq` (a consumer's cursor), in seq order.

    Whole segments that end at or before the cursor are skipped by peeking at the next one's first seq.
    """
    if seq <= 0:
        return list(read_records(audit_dir))
    segments = list_segments(audit_dir)
    out: list[dict[str, Any]] = []
    for index, (_, path) in enumerate(segments):
        following = segments[index + 1][1] if index + 1 < len(segments) else None
        if following is not None and (first := _first_seq(following)) is not None and first <= seq + 1:
            continue
        out.extend(r for r in read_segment(path) if r.get("seq", 0) > seq)
    return out


def _first_seq(path: Path) -> int | None:
    with path.open("rb") as handle:
        line = handle.readline()
    if not line.endswith(b"\n"):
        return None
    try:
        return split_line(line[:-1]).seq
    except MalformedLine:
        return None
