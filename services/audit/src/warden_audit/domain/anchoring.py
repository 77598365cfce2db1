"""Anchoring rules: a chain that verifies proves nothing unless a signed checkpoint pins its head.

Anyone who can write the audit folder can recompute every hash after an edit and empty
`checkpoints.jsonl`; the chain alone then verifies. So a log with records is only accepted when a
signed checkpoint covers it, recently enough (at most `max_unanchored_records` records and
`max_unanchored_seconds` of `recorded_at` after the newest checkpoint), and when no anchor kept
outside the folder (the anchor file, the SIEM's copy) names a checkpoint the local file lacks.
Signed checkpoints from those anchors are walked with the local ones by `ChainVerifier`, so a log
shorter than an anchor, or rewritten under one, fails there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from warden_audit.domain.checkpoint import Checkpoint
from warden_audit.domain.verification import VerifyReport


@dataclass(frozen=True)
class AnchorRules:
    """None disables a bound. The defaults fit the recorder's (1000 records, 5 s) with room for a crash."""

    max_unanchored_records: int | None = 1000
    max_unanchored_seconds: float | None = 60.0


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint and where it was read (a file path, a URL, "anchor file")."""

    checkpoint: Checkpoint
    source: str


def merge_checkpoints(
    local: Sequence[Checkpoint], anchors: Iterable[Anchor]
) -> tuple[list[Checkpoint], dict[int, str]]:
    """Local checkpoints plus the outside ones, one per seq, sorted; the outside copy wins a conflict.

    An outside checkpoint that disagrees with the local one at the same seq replaces it, so the walk
    checks the log against the witness rather than against what sits next to the log.
    """
    by_seq: dict[int, Checkpoint] = {}
    previous = -1
    for cp in local:
        if cp.seq <= previous:
            return list(local), {}  # out of order: let the walk report the edited file as it stands
        previous = cp.seq
        by_seq[cp.seq] = cp
    sources: dict[int, str] = {}
    for anchor in anchors:
        cp = anchor.checkpoint
        known = by_seq.get(cp.seq)
        if known is None or (known.head_hash, known.merkle_root) != (cp.head_hash, cp.merkle_root):
            by_seq[cp.seq] = cp
            sources[cp.seq] = anchor.source
    return [by_seq[s] for s in sorted(by_seq)], sources


def _when(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def apply_rules(
    report: VerifyReport,
    rules: AnchorRules,
    newest: Checkpoint | None,
    missing_locally: Mapping[int, str],
) -> VerifyReport:
    """A passing walk, judged for anchoring; a failing one is returned unchanged."""
    if not report.ok:
        return report

    def fail(problem: str, reason: str, seq: int | None = None) -> VerifyReport:
        return replace(report, ok=False, problem=problem, reason=reason, first_bad_seq=seq, segment=None, line=None)

    if missing_locally:
        seq, source = min(missing_locally.items())
        return fail(
            f"checkpoints.jsonl lacks the signed checkpoint at seq {seq} that {source} holds: "
            "checkpoints were removed from the audit folder",
            "checkpoints_removed",
            seq,
        )
    if report.records == 0:
        return report
    if newest is None:
        return fail(
            f"no signed checkpoint covers the log: records 1..{report.records} are unanchored "
            "(checkpoints.jsonl missing or emptied, no anchor); the chain alone proves nothing",
            "no_checkpoint",
            1,
        )
    behind = report.records - newest.seq
    if rules.max_unanchored_records is not None and behind > rules.max_unanchored_records:
        return fail(
            f"the newest signed checkpoint (seq {newest.seq}) is {behind} records behind the head (seq "
            f"{report.records}); at most {rules.max_unanchored_records} allowed",
            "stale_checkpoint",
            newest.seq + 1,
        )
    head_at = _when(report.head_recorded_at or "")
    signed_at = _when(newest.at)
    if rules.max_unanchored_seconds is not None and behind > 0 and head_at and signed_at:
        lag = (head_at - signed_at).total_seconds()
        if lag > rules.max_unanchored_seconds:
            return fail(
                f"the newest signed checkpoint (seq {newest.seq}, {newest.at}) is {lag:.0f} s older than the "
                f"head (seq {report.records}, {report.head_recorded_at}); at most "
                f"{rules.max_unanchored_seconds:g} s allowed",
                "stale_checkpoint",
                newest.seq + 1,
            )
    return report
