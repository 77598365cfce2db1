"""crash_loop@1: a crash loop after a fresh deploy is rolled back; any other one goes to a human."""

from __future__ import annotations

from warden_planner.domain.findings import Finding, rejected, supported
from warden_planner.domain.observer import GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, CandidateSpec, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import BAD_DEPLOY, check_deploys, hand_off, propose_rollback, recovered

CONFIG = "configuration or environment fault (start-up fails on every version)"


async def investigate(ctx: RunbookContext) -> Finding:
    cfg = ctx.config
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(ctx.target)
    healthy, restarts = number(view, "healthy"), number(view, "restarts")
    if healthy >= 1:
        return recovered(ctx, finding, f"healthy again after {restarts:.0f} restarts")
    deploy = await check_deploys(ctx, view, cfg.recent_deploy_window_min)
    await ctx.tools.logs(ctx.target, cfg.log_lines)
    symptom = f"crash-looping ({restarts:.0f} restarts)"
    if propose_rollback(ctx, finding, deploy, symptom):
        finding.hypotheses.append(rejected(CONFIG, "the loop started with a deployment inside the window"))
        finding.evidence = ctx.tools.items
        return finding
    finding.hypotheses += [
        rejected(BAD_DEPLOY, deploy.describe(cfg.recent_deploy_window_min)),
        supported(CONFIG, "no recent deployment; restarting the same container repeats the crash"),
    ]
    return await hand_off(ctx, finding, f"{ctx.target}: {symptom} without a recent deployment")


RUNBOOK = Runbook(
    name="crash_loop",
    version=1,
    triggers=("crash_loop",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER),
    steps=(
        "get_service(target): healthy, restarts, version, previous_version",
        "stop with 'recovered' when healthy",
        "get_deployments(target): latest deployment inside the window (60 min)?",
        "get_logs(target, 20) as evidence (exit codes, CrashLoopBackOff)",
    ),
    hypotheses=(BAD_DEPLOY, CONFIG),
    candidates=(CandidateSpec("rollback_deployment", "to_version = previous_version, else the deploy history"),),
    escalation=("no recent deployment: a restart would only repeat the crash", "the rollback failed"),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
