"""high_latency@1: roll back a fresh deploy; a slow dependency or an unexplained slowdown goes to a human.

Latency has many causes the catalog cannot fix (a slow database, a noisy neighbour, a hot code
path); restarting or scaling blindly hides them. The one cause an action tests safely is a
deployment inside the window, and that rollback is tier 2, so a human approves it anyway.
"""

from __future__ import annotations

from typing import Any

from warden_planner.domain.findings import Finding, rejected, supported
from warden_planner.domain.observer import GET_DEPENDENCIES, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, CandidateSpec, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import BAD_DEPLOY, check_deploys, hand_off, propose_rollback, recovered

SLOW_DEPENDENCY = "a dependency is slow or unhealthy"
SATURATION = "the service is saturated (queue building up)"


def slow(entries: list[dict[str, Any]], latency_ms: float, error_rate: float) -> list[str]:
    names = []
    for entry in entries:
        name = entry.get("name")
        latency, errors = entry.get("latency_ms"), entry.get("error_rate")
        if not isinstance(name, str):
            continue
        too_slow = isinstance(latency, int | float) and not isinstance(latency, bool) and latency >= latency_ms
        failing = entry.get("healthy") == 0 or (isinstance(errors, int | float) and errors >= error_rate)
        if too_slow or failing:
            names.append(name)
    return names


async def investigate(ctx: RunbookContext) -> Finding:
    cfg, target = ctx.config, ctx.target
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(target)
    latency = number(view, "latency_ms")
    threshold = cfg.latency_threshold_ms
    if latency < threshold:
        return recovered(ctx, finding, f"latency {latency:.0f} ms (< {threshold:.0f} ms)")
    symptom = f"latency {latency:.0f} ms"
    deploy = await check_deploys(ctx, view, cfg.recent_deploy_window_min)
    await ctx.tools.logs(target, cfg.log_lines)
    if propose_rollback(ctx, finding, deploy, symptom):
        finding.evidence = ctx.tools.items
        return finding
    finding.hypotheses.append(rejected(BAD_DEPLOY, deploy.describe(cfg.recent_deploy_window_min)))
    around = await ctx.tools.dependencies(target)
    culprits = slow(around.get("dependencies", [])[: cfg.max_dependencies], threshold, cfg.error_rate_threshold)
    if culprits:
        finding.hypotheses.append(supported(SLOW_DEPENDENCY, f"slow or failing: {', '.join(culprits)}"))
        return await hand_off(ctx, finding, f"{target}: {symptom}; dependency {', '.join(culprits)} is the cause")
    finding.hypotheses.append(rejected(SLOW_DEPENDENCY, "every dependency answers in time"))
    queue = view.get("queue_depth")
    if isinstance(queue, int | float) and not isinstance(queue, bool) and queue >= cfg.queue_threshold:
        finding.hypotheses.append(supported(SATURATION, f"queue depth {queue:.0f}"))
        why = f"saturated with queue depth {queue:.0f}; capacity is a human's call while latency is the symptom"
    else:
        finding.hypotheses.append(rejected(SATURATION, "no queue building up"))
        why = "no recent deploy, slow dependency or saturation; a human must profile it"
    return await hand_off(ctx, finding, f"{target}: {symptom}; {why}")


RUNBOOK = Runbook(
    name="high_latency",
    version=1,
    triggers=("high_latency",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_DEPENDENCIES, GET_OWNER),
    steps=(
        "get_service(target): latency_ms, queue_depth, version, previous_version",
        "stop with 'recovered' when latency_ms is below the threshold (300 ms)",
        "get_deployments(target): a deployment inside the window (60 min) -> rollback (tier 2: approved)",
        "get_logs(target, 20) as evidence",
        "get_dependencies(target): a slow or failing dependency -> hand off naming it",
        "otherwise hand off (saturation or unknown cause): no blind restart or scale",
    ),
    hypotheses=(BAD_DEPLOY, SLOW_DEPENDENCY, SATURATION),
    candidates=(CandidateSpec("rollback_deployment", "to_version = previous_version, else the deploy history"),),
    escalation=("no recent deployment: always hand off, naming a slow dependency when there is one",),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
