"""Shadow mode compared with what humans did, per decision (`warden shadow report`, autonomy evidence).

A shadowed decision (policy outcome `shadowed`: decided, recorded, never executed) is compared with
the actions humans later had carried out on the same incident (approved by a human, then started
by the executor):
- same: a human action of the same kind on the same target;
- different: humans acted on the incident, but not that way;
- none: no human action on the incident (yet).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from warden_audit.domain.incident_facts import IncidentFacts

VERDICTS = ("same", "different", "none")


@dataclass(frozen=True)
class Divergence:
    incident_id: str
    plans: list[str]
    action_id: str
    would: str  # "kind on target"
    verdict: str  # same | different | none
    humans_did: list[str]


@dataclass(frozen=True)
class ShadowReport:
    incidents: int  # incidents in range (and of the plan, when one was asked for)
    decisions: list[Divergence]

    @property
    def totals(self) -> dict[str, int]:
        return agreement(self.decisions)


def _describe(kind: object, target: object) -> str:
    return f"{kind} on {target}"


def divergences(facts: list[IncidentFacts]) -> list[Divergence]:
    out = []
    for f in facts:
        human = [(a.get("kind"), a.get("target")) for a in f.human_actions]
        did = [_describe(k, t) for k, t in human]
        for decision in f.shadowed:
            would = (decision.get("kind"), decision.get("target"))
            verdict = "none" if not human else ("same" if would in human else "different")
            out.append(
                Divergence(f.incident_id, f.plans, str(decision.get("action_id")), _describe(*would), verdict, did)
            )
    return out


def agreement(items: list[Divergence]) -> dict[str, int]:
    counts = Counter(d.verdict for d in items)
    return {v: counts.get(v, 0) for v in VERDICTS}
