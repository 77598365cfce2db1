"""Vetting: only catalog actions with in-bounds params on allowed targets are ever proposed."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from warden_contracts.catalog import Catalog

from warden_planner.domain.findings import Candidate

HUMAN_ONLY_TIER = 3


def vet(
    candidates: Iterable[Candidate], catalog: Catalog, do_not_touch: Iterable[str] = ()
) -> tuple[list[Candidate], list[str]]:
    """(valid candidates ranked by confidence, one reason per dropped candidate)."""
    patterns = tuple(do_not_touch)
    valid: list[Candidate] = []
    dropped: list[str] = []
    for candidate in candidates:
        problems = catalog.check(candidate.kind, candidate.target, candidate.params)
        problems += human_only(catalog, candidate.kind)
        if any(fnmatch.fnmatchcase(candidate.target, p) for p in patterns):
            problems.append(f"target {candidate.target!r} is on the runbook's do-not-touch list")
        if any(v.kind == candidate.kind for v in valid):
            problems.append(f"{candidate.kind} is already a candidate")
        if problems:
            dropped.append(f"dropped {candidate.kind} on {candidate.target}: {'; '.join(problems)}")
        else:
            valid.append(candidate)
    valid.sort(key=lambda c: c.confidence, reverse=True)
    return valid, dropped


def human_only(catalog: Catalog, kind: str) -> list[str]:
    """Tier 3 is never executed by the agent: proposing it is a handoff, so say so instead."""
    spec = catalog.get(kind)
    if spec is not None and spec.tier >= HUMAN_ONLY_TIER:
        return [f"{kind} is tier {spec.tier} (human-only): hand off instead of proposing it"]
    return []
