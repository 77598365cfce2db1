"""`verify_log`: prove the local audit log is the chain that was written, or name its first bad record."""

from __future__ import annotations

from pathlib import Path

from warden_audit.domain.verification import ChainVerifier, VerifyReport
from warden_audit.segments import list_segments, segments_dir

__all__ = ["VerifyReport", "verify_log"]


def verify_log(audit_dir: Path) -> VerifyReport:
    if not segments_dir(audit_dir).is_dir():
        return VerifyReport(False, 0, problem=f"no audit log at {segments_dir(audit_dir)}")
    verifier = ChainVerifier()
    segments = list_segments(audit_dir)
    for index, (number, path) in enumerate(segments):
        failure = verifier.feed_segment(number, path.name, path.read_bytes(), last=index == len(segments) - 1)
        if failure is not None:
            return failure
    return verifier.report()
