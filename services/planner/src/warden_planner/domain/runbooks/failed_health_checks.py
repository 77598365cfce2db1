"""failed_health_checks@2: roll back a fresh deploy, restart a memory-starved service, hand off for a
dead dependency, and restart a stateless instance that fails its probe for no other reason."""

from __future__ import annotations

from warden_planner.domain.findings import Candidate, Finding, rejected, supported
from warden_planner.domain.observer import GET_DEPENDENCIES, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import (
    CATALOG_DO_NOT_TOUCH,
    CandidateSpec,
    Runbook,
    RunbookContext,
    number,
    stateful_reason,
)
from warden_planner.domain.runbooks.common import (
    BAD_DEPLOY,
    check_deploys,
    hand_off,
    propose_rollback,
    recovered,
    unhealthy,
)

MEMORY = "memory exhaustion makes the probe time out"
DEPENDENCY = "a dependency the readiness probe checks is down"
HUNG = "the instance is wedged (no deploy, memory or dependency cause)"
CRASH_LOOP = "the instance crash-loops: it already restarts, and a restart repeats the crash"
# Restarts at which a failing probe is a crash loop, not a wedged instance (the crash_loop runbook's domain).
CRASH_LOOP_RESTARTS = 3


async def investigate(ctx: RunbookContext) -> Finding:
    cfg = ctx.config
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(ctx.target)
    healthy, memory = number(view, "healthy"), number(view, "memory_pct")
    if healthy >= 1:
        return recovered(ctx, finding, "passes its health checks")
    deploy = await check_deploys(ctx, view, cfg.recent_deploy_window_min)
    lines = await ctx.tools.logs(ctx.target, cfg.log_lines)
    if propose_rollback(ctx, finding, deploy, "failing health checks"):
        finding.evidence = ctx.tools.items
        return finding
    finding.hypotheses.append(rejected(BAD_DEPLOY, deploy.describe(cfg.recent_deploy_window_min)))
    if memory >= cfg.memory_threshold_pct:
        finding.hypotheses.append(supported(MEMORY, f"memory {memory:.0f}%"))
        finding.candidates.append(
            Candidate(
                kind="restart_service",
                target=ctx.target,
                params={},
                confidence=0.7,
                rationale=f"unhealthy with memory at {memory:.0f}%: fresh processes pass the probe",
            )
        )
        finding.summary = f"{ctx.target}: failing health checks with memory {memory:.0f}%"
        finding.evidence = ctx.tools.items
        return finding
    finding.hypotheses.append(rejected(MEMORY, f"memory {memory:.0f}% is below {cfg.memory_threshold_pct:.0f}%"))
    around = await ctx.tools.dependencies(ctx.target)
    down = unhealthy(around.get("dependencies", []), cfg.error_rate_threshold)
    if down:
        finding.hypotheses.append(supported(DEPENDENCY, f"unhealthy: {', '.join(down)}"))
        why = f"dependency {', '.join(down)} is down"
        return await hand_off(ctx, finding, f"{ctx.target}: failing health checks; {why}")
    finding.hypotheses.append(rejected(DEPENDENCY, "every dependency is healthy"))
    why = "no recent deploy, memory or dependency cause"
    looping = _crash_loop(number(view, "restarts"), lines)
    if looping:
        finding.hypotheses.append(supported(CRASH_LOOP, looping))
        return await hand_off(ctx, finding, f"{ctx.target}: failing health checks with {why}; {looping}: not restarted")
    finding.hypotheses.append(rejected(CRASH_LOOP, "no restarts or back-off in the logs"))
    stateful = stateful_reason(view)
    if stateful:
        finding.hypotheses.append(rejected(HUNG, f"not restarted: {stateful}"))
        return await hand_off(ctx, finding, f"{ctx.target}: failing health checks with {why}; {stateful}")
    finding.hypotheses.append(supported(HUNG, f"{why}; the service keeps no state in its instances"))
    finding.candidates.append(
        Candidate(
            kind="restart_service",
            target=ctx.target,
            params={},
            confidence=0.6,
            rationale=f"failing health checks with {why}: a fresh stateless instance, verified by its health",
        )
    )
    finding.summary = f"{ctx.target}: failing health checks with {why}"
    finding.evidence = ctx.tools.items
    return finding


def _crash_loop(restarts: float, lines: list[str]) -> str:
    """Why this is a crash loop (a restart would only repeat it), or "" when it is not one. Log text
    is untrusted, but it can only make the runbook stop, never act."""
    if restarts >= CRASH_LOOP_RESTARTS:
        return f"crash-looping ({restarts:.0f} restarts)"
    if any("CrashLoopBackOff" in line or "Back-off restarting" in line for line in lines):
        return "crash-looping (CrashLoopBackOff in the logs)"
    return ""


RUNBOOK = Runbook(
    name="failed_health_checks",
    version=2,
    triggers=("failed_health_checks",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_DEPENDENCIES, GET_OWNER),
    steps=(
        "get_service(target): healthy, memory_pct, version",
        "stop with 'recovered' when healthy",
        "get_deployments(target): a deployment inside the window (60 min) -> rollback",
        "memory_pct >= 80% -> restart",
        "get_dependencies(target): an unhealthy dependency -> hand off naming it",
        "restarts >= 3 or CrashLoopBackOff in the logs -> hand off (a restart repeats a crash loop)",
        "no other cause and a stateless service -> restart (verified by health); stateful -> hand off",
    ),
    hypotheses=(BAD_DEPLOY, MEMORY, DEPENDENCY, CRASH_LOOP, HUNG),
    candidates=(
        CandidateSpec("rollback_deployment", "to_version = previous_version, else the deploy history"),
        CandidateSpec("restart_service", "no parameters; memory_pct >= the threshold, or no other cause and stateless"),
    ),
    escalation=(
        "a dependency is unhealthy",
        "the instance crash-loops",
        "no other cause on a stateful service",
        "the action failed",
    ),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
