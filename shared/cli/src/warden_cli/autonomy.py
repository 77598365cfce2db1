"""`warden autonomy status|promote|demote PLAN`: progressive autonomy per response plan.

The path is shadow -> review -> autonomous (policy lets autonomy act on tier-1 actions only). Each
step is a `plan_run_mode` control event (scope `plan:<name>`) published as the operator identity,
so it is audited like every other change; the evidence shown (and recorded in the control's
reason) is audit's read model (`warden_audit.api.plan_evidence`) and travels with a promotion:
policy owns the ladder and the bar (`warden_policy.api.autonomy_step`, `promotion_gap`,
`check_promotion`) and its gate refuses a promotion that falls short unless forced with a reason.
Asking it here only fails early; demotion is always allowed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from warden_audit import api as audit
from warden_audit.api import PlanEvidence
from warden_contracts.events import ControlKind
from warden_policy import api as policy

from warden_cli.data_dir import existing_layout
from warden_cli.kpi import format_value
from warden_cli.layout import Layout
from warden_cli.operations import set_control

LADDER = policy.RUN_MODES

autonomy_app = typer.Typer(help="Progressive autonomy per response plan: shadow -> review -> autonomous.")
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="stack data directory")]
SHOWN_KPIS = {"autonomous_share", "false_remediation_rate", "human_override_rate", "time_to_mitigate_s"}


def lines(ev: PlanEvidence) -> list[str]:
    out = [f"plan {ev.plan}: {ev.mode} ({ev.origin}); {ev.incidents} incident(s) in the audit log"]
    out += [f"  {k.label:<28} {format_value(k):>8}  {k.detail}" for k in ev.kpis if k.key in SHOWN_KPIS]
    s = ev.shadow
    out.append(f"  {'Shadow agreement':<28} {s['same']} same, {s['different']} different, {s['none']} none")
    return out


def as_json(ev: PlanEvidence) -> dict[str, Any]:
    return {
        "plan": ev.plan,
        "mode": ev.mode,
        "origin": ev.origin,
        "incidents": ev.incidents,
        "kpis": {k.key: {"value": k.value, "unit": k.unit, "label": k.label, "detail": k.detail} for k in ev.kpis},
        "shadow": dict(ev.shadow),
    }


def summary(ev: PlanEvidence) -> str:
    """The evidence in one line, recorded in the control's reason."""
    kpis = {k.key: format_value(k) for k in ev.kpis}
    s = ev.shadow
    return (
        f"{ev.incidents} incidents; autonomous {kpis['autonomous_share']}, false remediation "
        f"{kpis['false_remediation_rate']}, overrides {kpis['human_override_rate']}; shadow "
        f"{s['same']}/{s['different']}/{s['none']} same/different/none"
    )


def _load(data_dir: Path | None, policy_dir: Path | None, plan: str) -> tuple[Layout, PlanEvidence]:
    layout = existing_layout(data_dir)
    (found,) = audit.plan_evidence(layout.audit_dir, [plan], policy.configured_run_modes(policy_dir))
    return layout, found


PolicyDir = Annotated[Path | None, typer.Option(help="policy config directory (default: the packaged one)")]


@autonomy_app.command("status")
def status(
    plan: Annotated[str | None, typer.Argument()] = None,
    data_dir: DataDir = None,
    policy_dir: PolicyDir = None,
    as_json_out: Annotated[bool, typer.Option("--json", help="print one JSON document (docs/cli.md)")] = False,
) -> None:
    """Each plan's run mode and the evidence for it."""
    layout = existing_layout(data_dir)
    configured = policy.configured_run_modes(policy_dir)
    found = audit.plan_evidence(layout.audit_dir, [plan] if plan else sorted(configured), configured)
    if as_json_out:
        typer.echo(json.dumps({"plans": [as_json(ev) for ev in found]}, sort_keys=True))
        return
    for ev in found:
        typer.echo("\n".join(lines(ev)))


def _move(
    plan: str, step: int, by: str, reason: str, force: bool, data_dir: Path | None, policy_dir: Path | None
) -> None:
    layout, ev = _load(data_dir, policy_dir, plan)
    target = policy.autonomy_step(ev.mode, step)
    if target is None:
        raise typer.BadParameter(f"plan {plan} is already {ev.mode}: nothing {'above' if step > 0 else 'below'} it")
    typer.echo("\n".join(lines(ev)))
    evidence = audit.promotion_evidence(ev)
    gap = policy.promotion_gap(evidence, target) if step > 0 else None
    if gap and not force:
        typer.secho(f"not promoting {plan} to {target}: {gap} (use --force to override)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if gap:
        try:
            # The operator's own reason, before the evidence is added to it: what policy's gate asks for.
            policy.check_promotion(ev.mode, target, evidence, forced=True, reason=reason)
        except policy.PromotionRefused:
            # Policy would dead-letter the control; a forced one step up is refused only for want of a reason.
            typer.secho(
                f"--force needs --reason: why promote {plan} to {target} past: {gap}", fg=typer.colors.RED, err=True
            )
            raise typer.Exit(2) from None
    why = f"{ev.mode} -> {target}: {reason or 'no reason given'}; evidence: {summary(ev)}"
    if gap:
        why += f"; FORCED past: {gap}"
    control = set_control(
        layout,
        ControlKind.PLAN_RUN_MODE,
        target,
        by,
        why,
        scope=f"plan:{plan}",
        evidence=evidence if step > 0 else None,
        forced=bool(gap),
    )
    asyncio.run(control)
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
