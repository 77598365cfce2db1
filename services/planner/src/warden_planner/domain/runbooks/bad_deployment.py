"""bad_deployment@1: a deployment flagged as failed is rolled back when the evidence agrees."""

from __future__ import annotations

from warden_planner.domain.findings import Finding, rejected
from warden_planner.domain.observer import GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, CandidateSpec, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import BAD_DEPLOY, check_deploys, hand_off, propose_rollback, recovered

NOT_THE_DEPLOY = "the symptom predates the latest deployment"


async def investigate(ctx: RunbookContext) -> Finding:
    cfg = ctx.config
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(ctx.target)
    errors, healthy = number(view, "error_rate"), number(view, "healthy")
    if errors < cfg.error_rate_threshold and healthy >= 1:
        return recovered(ctx, finding, f"error rate {errors:.2%} and healthy")
    deploy = await check_deploys(ctx, view, cfg.recent_deploy_window_min)
    await ctx.tools.logs(ctx.target, cfg.log_lines)
    symptom = f"error rate {errors:.2%}, healthy={int(healthy)}"
    if propose_rollback(ctx, finding, deploy, symptom):
        finding.hypotheses.append(rejected(NOT_THE_DEPLOY, "the symptom follows the deployment inside the window"))
        finding.evidence = ctx.tools.items
        return finding
    why = deploy.describe(cfg.recent_deploy_window_min)
    finding.hypotheses.append(rejected(BAD_DEPLOY, f"{why}; no rollback target or deploy outside the window"))
    return await hand_off(ctx, finding, f"{ctx.target}: reported bad deployment but {why}; {symptom}")


RUNBOOK = Runbook(
    name="bad_deployment",
    version=1,
    triggers=("bad_deployment",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER),
    steps=(
        "get_service(target): error_rate, healthy, version, previous_version",
        "stop with 'recovered' when error_rate < 5% and healthy",
        "get_deployments(target): latest deployment inside the window (60 min)?",
        "get_logs(target, 20) as evidence",
    ),
    hypotheses=(BAD_DEPLOY, NOT_THE_DEPLOY),
    candidates=(CandidateSpec("rollback_deployment", "to_version = previous_version, else the deploy history"),),
    escalation=("no deployment inside the window", "no previous version known", "the rollback failed"),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
