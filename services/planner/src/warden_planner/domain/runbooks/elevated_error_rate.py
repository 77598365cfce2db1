"""elevated_error_rate@1: a fresh deployment is rolled back; otherwise look at the dependencies."""

from __future__ import annotations

from warden_planner.domain.findings import Candidate, Finding, note, rejected, supported
from warden_planner.domain.observer import GET_DEPLOYMENTS, GET_LOGS, GET_SERVICE
from warden_planner.domain.runbooks.base import (
    CATALOG_DO_NOT_TOUCH,
    CandidateSpec,
    Runbook,
    RunbookContext,
    deployments_of,
    minutes_since,
    number,
    previous_version,
)

BAD_DEPLOY = "bad deployment"
DEPENDENCY = "dependency failure"
DO_NOT_TOUCH = CATALOG_DO_NOT_TOUCH


async def investigate(ctx: RunbookContext) -> Finding:
    target, window = ctx.target, ctx.config.recent_deploy_window_min
    view = await ctx.tools.service(target)
    errors = number(view, "error_rate")
    deployments = deployments_of(await ctx.tools.deployments(target))
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=DO_NOT_TOUCH)
    latest = deployments[-1] if deployments else None
    age = minutes_since(latest.at, ctx.now) if latest and latest.at else None
    previous = previous_version(view, deployments)
    if latest and age is not None and age <= window and previous:
        finding.hypotheses += [
            supported(BAD_DEPLOY, f"{latest.version} deployed {age:.0f} min ago, error rate {errors:.2%}"),
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
                params={"to_version": previous},
                confidence=0.85,
                rationale=f"error rate {errors:.2%} since {latest.version}; return to {previous}",
            )
        )
        finding.summary = f"{target}: error rate {errors:.2%} after deploying {latest.version} {age:.0f} min ago"
        finding.evidence = ctx.tools.items
        return finding
    if latest and age is not None and age <= window:
        finding.hypotheses.append(note(f"{latest.version} is recent but no previous version is known"))
    else:
        finding.hypotheses.append(rejected(BAD_DEPLOY, f"no deployment in the last {window} min"))
    await ctx.tools.logs(target, ctx.config.log_lines)
    unhealthy = await _unhealthy_dependencies(ctx, view)
    if unhealthy:
        names = ", ".join(unhealthy)
        finding.hypotheses.append(supported(DEPENDENCY, f"unhealthy: {names}"))
        finding.handoff = (
            f"{target}: error rate {errors:.2%}, no recent deployment; dependency {names} is "
            "unhealthy and is the root-cause candidate"
        )
    else:
        finding.hypotheses.append(rejected(DEPENDENCY, "every dependency reports healthy"))
        finding.handoff = (
            f"{target}: error rate {errors:.2%} with no recent deployment and healthy "
            "dependencies; cause unknown, a human must investigate"
        )
    finding.summary = finding.handoff
    finding.evidence = ctx.tools.items
    return finding


async def _unhealthy_dependencies(ctx: RunbookContext, view: dict[str, object]) -> list[str]:
    raw = view.get("dependencies")
    names = [d for d in raw if isinstance(d, str) and d] if isinstance(raw, list) else []
    unhealthy = []
    for name in names[: ctx.config.max_dependencies]:
        dependency = await ctx.tools.service(name)
        if number(dependency, "healthy") < 1:
            unhealthy.append(name)
    return unhealthy


RUNBOOK = Runbook(
    name="elevated_error_rate",
    version=1,
    triggers=("elevated_error_rate",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS),
    steps=(
        "get_service(target): error_rate, version, previous_version, dependencies",
        "get_deployments(target): did the latest deployment land within the window (60 min)?",
        "no recent deployment: get_logs(target, 20) as evidence, get_service(dependency) for each dependency",
    ),
    hypotheses=(BAD_DEPLOY, DEPENDENCY),
    candidates=(
        CandidateSpec("rollback_deployment", "to_version = service previous_version, else the deploy history"),
    ),
    escalation=(
        "no recent deployment: always hand off, naming any unhealthy dependency as root-cause candidate",
        "a tool fails or answers without error_rate",
        "the rollback failed or was rolled back",
    ),
    do_not_touch=DO_NOT_TOUCH,
    investigate=investigate,
)
