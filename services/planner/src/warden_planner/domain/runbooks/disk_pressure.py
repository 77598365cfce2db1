"""disk_pressure@1: no catalog action frees disk, so the owner gets the diagnosis, never a guess."""

from __future__ import annotations

from warden_planner.domain.findings import Finding, note, supported
from warden_planner.domain.observer import GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import check_deploys, hand_off, recovered

FILLING = "a volume is filling (logs or data growth)"


async def investigate(ctx: RunbookContext) -> Finding:
    cfg = ctx.config
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(ctx.target)
    disk = number(view, "disk_pct")
    if disk < cfg.disk_threshold_pct:
        return recovered(ctx, finding, f"disk at {disk:.0f}% (< {cfg.disk_threshold_pct:.0f}%)")
    deploy = await check_deploys(ctx, view, cfg.recent_deploy_window_min)
    await ctx.tools.logs(ctx.target, cfg.log_lines)
    finding.hypotheses += [
        supported(FILLING, f"disk at {disk:.0f}%; {deploy.describe(cfg.recent_deploy_window_min)}"),
        note("the catalog has no action that frees disk space: restart and scale do not shrink a volume"),
    ]
    return await hand_off(ctx, finding, f"{ctx.target}: disk at {disk:.0f}% and no catalog action frees space")


RUNBOOK = Runbook(
    name="disk_pressure",
    version=1,
    triggers=("disk_pressure",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER),
    steps=(
        "get_service(target): disk_pct",
        "stop with 'recovered' when disk_pct < 90%",
        "get_deployments(target) and get_logs(target, 20): what started writing",
        "get_owner(target): hand off to the owning team",
    ),
    hypotheses=(FILLING,),
    candidates=(),
    escalation=("always while the disk is above the threshold: no catalog action frees space",),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
