"""Where the local log lives: `<audit_dir>/segments/NNNNNN.jsonl`, one canonical record per line."""

from __future__ import annotations

import json
import re
from pathlib import Path

SEGMENTS_DIR = "segments"
CHECKPOINTS_FILE = "checkpoints.jsonl"
_NAME = re.compile(r"^(\d{6,})\.jsonl$")


class AuditLogCorrupt(RuntimeError):
    """The log cannot be read or extended safely; run `warden audit verify` for the first bad record."""


def segments_dir(audit_dir: Path) -> Path:
    return audit_dir / SEGMENTS_DIR


def segment_path(audit_dir: Path, number: int) -> Path:
    return segments_dir(audit_dir) / f"{number:06d}.jsonl"


def checkpoints_path(audit_dir: Path) -> Path:
    return audit_dir / CHECKPOINTS_FILE


def list_segments(audit_dir: Path) -> list[tuple[int, Path]]:
    """Segment files in chain order; other files in the folder are ignored."""
    folder = segments_dir(audit_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name)) and p.is_file()]
    return sorted(found)


def complete_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Newline-terminated lines (without newline) and the unterminated remainder (b"" if none)."""
    lines = data.split(b"\n")
    remainder = lines.pop()
    return lines, remainder


def read_checkpoint_lines(audit_dir: Path) -> list[dict[str, object]]:
    """The signed checkpoints as stored, oldest first (an unterminated last line was never acknowledged)."""
    path = checkpoints_path(audit_dir)
    if not path.exists():
        return []
    lines, _ = complete_lines(path.read_bytes())
    out: list[dict[str, object]] = []
    for number, line in enumerate(lines, 1):
        try:
            value = json.loads(line)
        except ValueError:
            raise AuditLogCorrupt(f"unparsable checkpoint at {CHECKPOINTS_FILE}:{number}") from None
        if not isinstance(value, dict):
            raise AuditLogCorrupt(f"not a checkpoint at {CHECKPOINTS_FILE}:{number}")
        out.append(value)
    return out
