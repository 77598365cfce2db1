"""`verify_log`: prove the local audit log is the chain that was written, or name its first bad record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from warden_audit.domain.anchoring import Anchor, AnchorRules, apply_rules, merge_checkpoints
from warden_audit.domain.checkpoint import Checkpoint, MalformedCheckpoint, SignatureCheck
from warden_audit.domain.verification import ChainVerifier, VerifyReport
from warden_audit.segments import CHECKPOINTS_FILE, AuditLogCorrupt, list_segments, read_checkpoint_lines, segments_dir
from warden_audit.verify_parallel import processes_for, verify_segments, walk_segments

__all__ = ["AnchorRules", "VerifyReport", "load_checkpoints", "verify_log", "verify_processes"]


def load_checkpoints(audit_dir: Path) -> list[Checkpoint]:
    return [Checkpoint.from_json(raw) for raw in read_checkpoint_lines(audit_dir)]


def verify_processes(audit_dir: Path, jobs: int | None = None) -> int:
    """How many worker processes `verify_log(audit_dir, jobs=jobs)` checks lines with (1: none)."""
    if not segments_dir(audit_dir).is_dir():
        return 1
    return processes_for(list_segments(audit_dir), jobs)


def verify_log(
    audit_dir: Path,
    check: SignatureCheck | None = None,
    *,
    anchors: Sequence[Anchor] = (),
    rules: AnchorRules | None = None,
    jobs: int | None = None,
) -> VerifyReport:
    """Check every record and every signed checkpoint; with `check`, also the checkpoint signatures.

    `anchors` (checkpoints kept outside the audit folder) are walked with the local ones: the log
    must reach and match each. With `rules`, a log with records also needs a recent enough
    checkpoint (`warden audit verify` always passes rules; the library default stays the bare walk).
    `jobs`: worker processes checking lines (default: one per available CPU; 1 walks in this
    process, as does a log too small to pay for starting them); the report is the same either way.
    """
    if not segments_dir(audit_dir).is_dir():
        if anchors:
            newest = max(a.checkpoint.seq for a in anchors)
            return VerifyReport(
                False,
                0,
                1,
                problem=f"no audit log at {segments_dir(audit_dir)}, but an anchor covers seq {newest}",
                reason="shorter_than_anchor",
            )
        return VerifyReport(False, 0, problem=f"no audit log at {segments_dir(audit_dir)}", reason="no_log")
    try:
        local = load_checkpoints(audit_dir)
    except (AuditLogCorrupt, MalformedCheckpoint) as err:
        problem = f"checkpoints unreadable: {err}"
        return VerifyReport(False, 0, segment=CHECKPOINTS_FILE, problem=problem, reason="checkpoints_unreadable")
    checkpoints, sources = merge_checkpoints(local, anchors)
    verifier = ChainVerifier(checkpoints, check, sources)
    segments = list_segments(audit_dir)
    processes = processes_for(segments, jobs)
    walk = verify_segments if processes > 1 else walk_segments
    failure = walk(verifier, segments, processes)
    if failure is not None:
        return failure
    report = verifier.report()
    if rules is None or not report.ok:
        return report
    report = replace(report, head_recorded_at=_head_recorded_at(segments))
    local_seqs = {(cp.seq, cp.head_hash) for cp in local}
    missing = {
        a.checkpoint.seq: a.source for a in anchors if (a.checkpoint.seq, a.checkpoint.head_hash) not in local_seqs
    }
    return apply_rules(report, rules, checkpoints[-1] if checkpoints else None, missing)


def _head_recorded_at(segments: Sequence[tuple[int, Path]]) -> str | None:
    for _, path in reversed(segments):
        lines = path.read_bytes().split(b"\n")
        complete = [line for line in lines[:-1] if line]
        if complete:
            value = json.loads(complete[-1]).get("recorded_at")
            return value if isinstance(value, str) else None
    return None
