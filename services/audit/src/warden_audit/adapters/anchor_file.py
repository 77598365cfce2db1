"""Checkpoint copies kept outside the segment folder, and anchors read from a file or a URL.

The anchor file (`<data-dir>/anchors/checkpoints.jsonl`, folder 0700, file 0600) is opened with
O_APPEND for every line: the service never seeks or rewrites it, so emptying `audit/` (log and
`checkpoints.jsonl`) leaves the newest signed head behind. It is a second witness on the same
disk, not a remote one; the SIEM's copy (`sre.audit.recorded.v1`) is the one an attacker on this
machine cannot reach. `read_anchor_source` reads what an operator kept: a checkpoint, a SIEM event,
an audit `/v1/audit/head` answer, or JSON lines of any of those.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from warden_contracts.canonical import canonical_json

from warden_audit.domain.anchoring import Anchor
from warden_audit.domain.checkpoint import Checkpoint, MalformedCheckpoint

ANCHORS_DIR = "anchors"
ANCHOR_FILE = "checkpoints.jsonl"
URL_TIMEOUT_S = 10.0


class AnchorUnreadable(ValueError):
    """An anchor was given but holds no readable signed checkpoint."""


def default_anchor_path(data_dir: Path) -> Path:
    return data_dir / ANCHORS_DIR / ANCHOR_FILE


class AnchorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: Checkpoint) -> None:
        """Append one line and fsync it (blocking: call from a worker thread)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, canonical_json(checkpoint.to_json()) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[Anchor]:
        """Every complete line as an anchor; a torn last line (crash mid-write) is skipped."""
        if not self.path.exists():
            return []
        lines = self.path.read_bytes().split(b"\n")
        lines.pop()
        where = f"anchor file {self.path}"
        return [Anchor(cp, where) for cp in _checkpoints(lines, where)]

    def newest(self) -> Checkpoint | None:
        found = self.read()
        return max((a.checkpoint for a in found), key=lambda cp: cp.seq) if found else None


def _checkpoints_in(value: Any) -> Iterator[dict[str, Any]]:
    """A checkpoint in any of the shapes an operator may keep (see the module docstring)."""
    if not isinstance(value, dict):
        return
    if "merkle_root" in value and "signature" in value:
        yield value
        return
    for key in ("checkpoint", "data"):
        inner = value.get(key)
        if isinstance(inner, dict):
            yield from _checkpoints_in(inner)
    for inner in value.get("checkpoints") or []:
        yield from _checkpoints_in(inner)


def _checkpoints(lines: list[bytes], where: str) -> list[Checkpoint]:
    found: list[Checkpoint] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            found += [Checkpoint.from_json(raw) for raw in _checkpoints_in(value)]
        except (ValueError, MalformedCheckpoint) as err:
            raise AnchorUnreadable(f"{where}:{number}: not a signed checkpoint ({err})") from None
    return found


def read_anchor_source(source: str) -> list[Anchor]:
    """Signed checkpoints from a file or an http(s) URL; raises `AnchorUnreadable` if there are none."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=URL_TIMEOUT_S) as answer:  # noqa: S310 (scheme checked)
                data = answer.read()
        except OSError as err:
            raise AnchorUnreadable(f"{source}: {err}") from None
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            raise AnchorUnreadable(f"{source}: {err.strerror or err}") from None
    text = data.strip()
    # One pretty-printed JSON document, or JSON lines.
    try:
        lines = [canonical_json(json.loads(text))] if text.startswith(b"{") else text.split(b"\n")
    except ValueError:
        lines = text.split(b"\n")
    found = [Anchor(cp, source) for cp in _checkpoints(lines, source)]
    if not found:
        raise AnchorUnreadable(f"{source}: no signed checkpoint in it")
    return found
