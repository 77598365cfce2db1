"""A response plan's run mode and the evidence for it, from the audit log (`warden autonomy`).

The mode is the newest `plan_run_mode` control for the plan, else what policy's configuration
says (passed in: audit does not read policy's files). The evidence is the plan's incidents, their
KPIs and the shadow agreement; `promotion_evidence` is the count a promotion carries to policy,
whose domain owns the bar (`warden_policy.domain.autonomy_bar`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden_contracts.events import ControlKind, PromotionEvidence

from warden_audit.domain.incident_facts import Record, data_of, incident_facts, record_time
from warden_audit.domain.kpis import Kpi, compute
from warden_audit.domain.shadow import agreement, divergences

DEFAULT_MODE = "review"


@dataclass(frozen=True)
class PlanEvidence:
    plan: str
    mode: str
    origin: str  # "configured", "agent default", or who set it, when
    incidents: int
    kpis: list[Kpi]
    shadow: dict[str, int]

    def kpi_values(self) -> dict[str, float | None]:
        return {k.key: k.value for k in self.kpis}


def _mode_changes(records: list[Record], plan: str) -> list[Record]:
    return [
        r
        for r in records
        if r["type"] == "sre.control.changed.v1"
        and data_of(r).get("kind") == ControlKind.PLAN_RUN_MODE.value
        and data_of(r).get("scope") == f"plan:{plan}"
    ]


def evidence(records: list[Record], plan: str, configured: Mapping[str, str]) -> PlanEvidence:
    changes = _mode_changes(records, plan)
    if changes:
        last = data_of(changes[-1])
        mode, origin = str(last["value"]), f"set by {last.get('changed_by')} at {record_time(changes[-1])}"
    else:
        mode, origin = configured.get(plan, DEFAULT_MODE), "configured" if plan in configured else "agent default"
    facts = [f for f in incident_facts(records) if plan in f.plans]
    alerts = sum(f.alerts for f in facts)
    return PlanEvidence(plan, mode, origin, len(facts), compute(facts, alerts), agreement(divergences(facts)))


def promotion_evidence(ev: PlanEvidence) -> PromotionEvidence:
    """What policy holds a promotion to (its domain owns the bar; this is only the audit's count)."""
    kpis: dict[str, Any] = ev.kpi_values()
    return PromotionEvidence(
        shadow_same=ev.shadow["same"],
        shadow_different=ev.shadow["different"],
        shadow_none=ev.shadow["none"],
        incidents=ev.incidents,
        false_remediation_rate=kpis.get("false_remediation_rate"),
        human_override_rate=kpis.get("human_override_rate"),
    )
