"""`warden autonomy status|promote|demote PLAN`: progressive autonomy per response plan.

The path is shadow -> review -> autonomous (policy lets autonomy act on tier-1 actions only). Each
step is a `plan_run_mode` control event (scope `plan:<name>`) published as the operator identity,
so it is audited like every other change; the evidence shown (and recorded in the control's
reason) comes from the audit log and travels with a promotion: policy's domain
(`warden_policy.domain.autonomy_bar`) owns the bar and refuses a promotion that falls short unless
forced with a reason. The check here only fails early with the same words; demotion is always allowed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit.domain.incident_facts import data_of, incident_facts, record_time
from warden_audit.domain.kpis import Kpi, compute
from warden_audit.reader import read_records
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ControlChanged, ControlKind, PromotionEvidence
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.domain.autonomy_bar import LADDER as RUN_MODE_LADDER
from warden_policy.domain.autonomy_bar import promotion_gap
from warden_policy.domain.model import RunMode

from warden_cli.data_dir import existing_layout
from warden_cli.kpi import format_value
from warden_cli.layout import Layout
from warden_cli.operations import connected_bus
from warden_cli.shadow import agreement, divergences

LADDER = tuple(m.value for m in RUN_MODE_LADDER)

autonomy_app = typer.Typer(help="Progressive autonomy per response plan: shadow -> review -> autonomous.")
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")]


@dataclass(frozen=True)
class PlanEvidence:
    plan: str
    mode: str
    origin: str  # "config" or who set it, when
    incidents: int
    kpis: list[Kpi]
    shadow: dict[str, int]

    def lines(self) -> list[str]:
        shown = {"autonomous_share", "false_remediation_rate", "human_override_rate", "time_to_mitigate_s"}
        out = [f"plan {self.plan}: {self.mode} ({self.origin}); {self.incidents} incident(s) in the audit log"]
        out += [f"  {k.label:<28} {format_value(k):>8}  {k.detail}" for k in self.kpis if k.key in shown]
        s = self.shadow
        out.append(f"  {'Shadow agreement':<28} {s['same']} same, {s['different']} different, {s['none']} none")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "mode": self.mode,
            "origin": self.origin,
            "incidents": self.incidents,
            "kpis": {
                k.key: {"value": k.value, "unit": k.unit, "label": k.label, "detail": k.detail} for k in self.kpis
            },
            "shadow": dict(self.shadow),
        }

    def summary(self) -> str:
        kpis = {k.key: format_value(k) for k in self.kpis}
        s = self.shadow
        return (
            f"{self.incidents} incidents; autonomous {kpis['autonomous_share']}, false remediation "
            f"{kpis['false_remediation_rate']}, overrides {kpis['human_override_rate']}; shadow "
            f"{s['same']}/{s['different']}/{s['none']} same/different/none"
        )


def _configured_modes(policy_dir: Path | None) -> dict[str, str]:
    plans = load_policy_config(policy_dir).plans.response_plans
    return {p.name: str(getattr(p.run_mode, "value", p.run_mode)) for p in plans}


def _mode_changes(records: list[dict[str, Any]], plan: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["type"] == "sre.control.changed.v1"
        and data_of(r).get("kind") == ControlKind.PLAN_RUN_MODE.value
        and data_of(r).get("scope") == f"plan:{plan}"
    ]


def evidence(records: list[dict[str, Any]], plan: str, configured: dict[str, str]) -> PlanEvidence:
    changes = _mode_changes(records, plan)
    if changes:
        last = data_of(changes[-1])
        mode, origin = str(last["value"]), f"set by {last.get('changed_by')} at {record_time(changes[-1])}"
    else:
        mode, origin = configured.get(plan, "review"), "configured" if plan in configured else "agent default"
    facts = [f for f in incident_facts(records) if plan in f.plans]
    alerts = sum(f.alerts for f in facts)
    return PlanEvidence(plan, mode, origin, len(facts), compute(facts, alerts), agreement(divergences(facts)))


def promotion_evidence(ev: PlanEvidence) -> PromotionEvidence:
    """What policy holds a promotion to (its domain owns the bar; this is only the audit's count)."""
    kpis = {k.key: k.value for k in ev.kpis}
    return PromotionEvidence(
        shadow_same=ev.shadow["same"],
        shadow_different=ev.shadow["different"],
        shadow_none=ev.shadow["none"],
        incidents=ev.incidents,
        false_remediation_rate=kpis.get("false_remediation_rate"),
        human_override_rate=kpis.get("human_override_rate"),
    )


async def publish_mode(
    layout: Layout,
    plan: str,
    mode: str,
    by: str,
    reason: str,
    evidence: PromotionEvidence | None = None,
    forced: bool = False,
) -> None:
    payload = ControlChanged(
        kind=ControlKind.PLAN_RUN_MODE,
        value=mode,
        scope=f"plan:{plan}",
        changed_by=by,
        reason=reason,
        evidence=evidence,
        forced=forced,
    )
    bus = await connected_bus(layout, "operator")
    try:
        await bus.publish(
            envelope_for(
                "sre.control.changed.v1", payload, source=f"warden/cli/{by}", correlationid=f"control:plan:{plan}"
            )
        )
    finally:
        await bus.stop()


def _layout(data_dir: Path | None) -> Layout:
    return existing_layout(data_dir)


def _load(data_dir: Path | None, policy_dir: Path | None, plan: str) -> tuple[Layout, PlanEvidence]:
    layout = _layout(data_dir)
    return layout, evidence(list(read_records(layout.audit_dir)), plan, _configured_modes(policy_dir))


PolicyDir = Annotated[Path | None, typer.Option(help="policy config directory (default: the packaged one)")]


@autonomy_app.command("status")
def status(
    plan: Annotated[str | None, typer.Argument()] = None,
    data_dir: DataDir = None,
    policy_dir: PolicyDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document (docs/cli.md)")] = False,
) -> None:
    """Each plan's run mode and the evidence for it."""
    layout = _layout(data_dir)
    records = list(read_records(layout.audit_dir))
    configured = _configured_modes(policy_dir)
    found = [evidence(records, name, configured) for name in ([plan] if plan else sorted(configured))]
    if as_json:
        typer.echo(json.dumps({"plans": [ev.as_json() for ev in found]}, sort_keys=True))
        return
    for ev in found:
        typer.echo("\n".join(ev.lines()))


def _move(
    plan: str, step: int, by: str, reason: str, force: bool, data_dir: Path | None, policy_dir: Path | None
) -> None:
    layout, ev = _load(data_dir, policy_dir, plan)
    index = LADDER.index(ev.mode) if ev.mode in LADDER else 1
    target_index = index + step
    if not 0 <= target_index < len(LADDER):
        raise typer.BadParameter(f"plan {plan} is already {ev.mode}: nothing {'above' if step > 0 else 'below'} it")
    target = LADDER[target_index]
    typer.echo("\n".join(ev.lines()))
    evidence = promotion_evidence(ev)
    gap = promotion_gap(evidence, RunMode(target)) if step > 0 else None
    if gap and not force:
        typer.secho(f"not promoting {plan} to {target}: {gap} (use --force to override)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if gap and not reason.strip():
        # Policy refuses a forced promotion without one; say so here rather than have it dead-lettered.
        typer.secho(
            f"--force needs --reason: why promote {plan} to {target} past: {gap}", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    why = f"{ev.mode} -> {target}: {reason or 'no reason given'}; evidence: {ev.summary()}"
    if gap:
        why += f"; FORCED past: {gap}"
    asyncio.run(publish_mode(layout, plan, target, by, why, evidence if step > 0 else None, forced=bool(gap)))
    typer.echo(f"plan {plan}: {ev.mode} -> {target} (control event published as {by})")


@autonomy_app.command("promote")
def promote(
    plan: str,
    by: Annotated[str, typer.Option(help="who promotes (recorded)")] = "operator",
    reason: str = "",
    force: Annotated[bool, typer.Option(help="promote although the evidence does not meet the bar")] = False,
    data_dir: DataDir = None,
    policy_dir: PolicyDir = None,
) -> None:
    """One step up: shadow -> review -> autonomous, when the evidence supports it."""
    _move(plan, +1, by, reason, force, data_dir, policy_dir)


@autonomy_app.command("demote")
def demote(
    plan: str,
    by: Annotated[str, typer.Option(help="who demotes (recorded)")] = "operator",
    reason: str = "",
    data_dir: DataDir = None,
    policy_dir: PolicyDir = None,
) -> None:
    """One step down: autonomous -> review -> shadow, always allowed."""
    _move(plan, -1, by, reason, False, data_dir, policy_dir)
