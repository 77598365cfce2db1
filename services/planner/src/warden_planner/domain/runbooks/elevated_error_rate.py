"""elevated_error_rate@2: roll back a fresh deploy; otherwise find the neighbour that causes it.

Version 2 adds the upstream check: a service whose callers were just deployed (a cache flooded by
a new client release) is a victim, not a culprit; it is handed off naming the caller instead of
being restarted or rolled back.
"""

from __future__ import annotations

from warden_planner.domain.findings import Candidate, Finding, note, rejected, supported
from warden_planner.domain.observer import GET_DEPENDENCIES, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, CandidateSpec, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import check_deploys, hand_off, recently_deployed, recovered, unhealthy

BAD_DEPLOY = "bad deployment"
DEPENDENCY = "dependency failure"
UPSTREAM = "a recently deployed caller overloads this service"
DO_NOT_TOUCH = CATALOG_DO_NOT_TOUCH


async def investigate(ctx: RunbookContext) -> Finding:
    cfg, target, window = ctx.config, ctx.target, ctx.config.recent_deploy_window_min
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=DO_NOT_TOUCH)
    view = await ctx.tools.service(target)
    errors = number(view, "error_rate")
    if errors < cfg.error_rate_threshold:
        return recovered(ctx, finding, f"error rate {errors:.2%} (< {cfg.error_rate_threshold:.0%})")
    deploy = await check_deploys(ctx, view, window)
    if deploy.recent and deploy.previous and deploy.latest and deploy.age_min is not None:
        when = f"{deploy.latest.version} deployed {deploy.age_min:.0f} min ago"
        finding.hypotheses += [
            supported(BAD_DEPLOY, f"{when}, error rate {errors:.2%}"),
            rejected(
                DEPENDENCY,
                "the errors follow a deployment of this service inside the window; a "
                "rollback is reversible and tests the deployment hypothesis first",
            ),
        ]
        finding.candidates.append(
            Candidate(
                kind="rollback_deployment",
                target=target,
                params={"to_version": deploy.previous},
                confidence=0.85,
                rationale=f"error rate {errors:.2%} since {deploy.latest.version}; return to {deploy.previous}",
            )
        )
        finding.summary = (
            f"{target}: error rate {errors:.2%} after deploying {deploy.latest.version} {deploy.age_min:.0f} min ago"
        )
        finding.evidence = ctx.tools.items
        return finding
    if deploy.recent:
        finding.hypotheses.append(note(f"{deploy.describe(window)} but no previous version is known"))
    else:
        finding.hypotheses.append(rejected(BAD_DEPLOY, f"no deployment in the last {window} min"))
    await ctx.tools.logs(target, cfg.log_lines)
    around = await ctx.tools.dependencies(target)
    down = unhealthy(around.get("dependencies", [])[: cfg.max_dependencies], cfg.error_rate_threshold)
    callers = recently_deployed(around.get("dependents", [])[: cfg.max_dependencies], ctx, window)
    if callers:
        finding.hypotheses.append(supported(UPSTREAM, f"deployed inside {window} min: {', '.join(callers)}"))
    else:
        finding.hypotheses.append(rejected(UPSTREAM, "no caller was deployed inside the window"))
    if down:
        finding.hypotheses.append(supported(DEPENDENCY, f"unhealthy: {', '.join(down)}"))
    else:
        finding.hypotheses.append(rejected(DEPENDENCY, "every dependency reports healthy"))
    if callers:
        cause = f"recently deployed caller {', '.join(callers)} is the root-cause candidate; {target} is not touched"
    elif down:
        cause = f"dependency {', '.join(down)} is unhealthy and is the root-cause candidate"
    else:
        cause = "healthy dependencies and no recent deployment; cause unknown, a human must investigate"
    return await hand_off(ctx, finding, f"{target}: error rate {errors:.2%} with no recent deployment; {cause}")


RUNBOOK = Runbook(
    name="elevated_error_rate",
    version=2,
    triggers=("elevated_error_rate",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_DEPENDENCIES, GET_OWNER),
    steps=(
        "get_service(target): error_rate, version, previous_version",
        "stop with 'recovered' when error_rate < 5%",
        "get_deployments(target): did the latest deployment land within the window (60 min)? -> rollback",
        "otherwise get_logs(target, 20) and get_dependencies(target): unhealthy dependencies, callers deployed "
        "inside the window",
    ),
    hypotheses=(BAD_DEPLOY, DEPENDENCY, UPSTREAM),
    candidates=(
        CandidateSpec("rollback_deployment", "to_version = service previous_version, else the deploy history"),
    ),
    escalation=(
        "no recent deployment: always hand off, naming a recently deployed caller or an unhealthy dependency",
        "a tool fails or answers without error_rate",
        "the rollback failed or was rolled back",
    ),
    do_not_touch=DO_NOT_TOUCH,
    investigate=investigate,
)
