"""`verify_log`: prove the local audit log is the chain that was written, or name its first bad record."""

from __future__ import annotations

from pathlib import Path

from warden_audit.domain.checkpoint import Checkpoint, MalformedCheckpoint, SignatureCheck
from warden_audit.domain.verification import ChainVerifier, VerifyReport
from warden_audit.segments import CHECKPOINTS_FILE, AuditLogCorrupt, list_segments, read_checkpoint_lines, segments_dir

__all__ = ["VerifyReport", "load_checkpoints", "verify_log"]


def load_checkpoints(audit_dir: Path) -> list[Checkpoint]:
    return [Checkpoint.from_json(raw) for raw in read_checkpoint_lines(audit_dir)]


def verify_log(audit_dir: Path, check: SignatureCheck | None = None) -> VerifyReport:
    """Check every record and every signed checkpoint; with `check`, also the checkpoint signatures."""
    if not segments_dir(audit_dir).is_dir():
        return VerifyReport(False, 0, problem=f"no audit log at {segments_dir(audit_dir)}")
    try:
        checkpoints = load_checkpoints(audit_dir)
    except (AuditLogCorrupt, MalformedCheckpoint) as err:
        return VerifyReport(False, 0, segment=CHECKPOINTS_FILE, problem=f"checkpoints unreadable: {err}")
    verifier = ChainVerifier(checkpoints, check)
    segments = list_segments(audit_dir)
    for index, (number, path) in enumerate(segments):
        failure = verifier.feed_segment(number, path.name, path.read_bytes(), last=index == len(segments) - 1)
        if failure is not None:
            return failure
    return verifier.report()
