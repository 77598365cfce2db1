"""queue_backlog@1: too few consumers are scaled out, unless a broken dependency is the bottleneck."""

from __future__ import annotations

from warden_planner.domain.findings import Candidate, Finding, rejected, supported
from warden_planner.domain.observer import GET_DEPENDENCIES, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, CandidateSpec, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import hand_off, recovered, unhealthy

CAPACITY = "too few consumers for the inflow"
DEPENDENCY = "consumers are blocked on an unhealthy dependency"
SCALE_FACTOR = 2


async def investigate(ctx: RunbookContext) -> Finding:
    cfg = ctx.config
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(ctx.target)
    depth, replicas = number(view, "queue_depth"), int(number(view, "replicas"))
    if depth < cfg.queue_threshold:
        return recovered(ctx, finding, f"queue depth {depth:.0f} (< {cfg.queue_threshold})")
    around = await ctx.tools.dependencies(ctx.target)
    await ctx.tools.logs(ctx.target, cfg.log_lines)
    down = unhealthy(around.get("dependencies", []), cfg.error_rate_threshold)
    if down:
        finding.hypotheses += [
            supported(DEPENDENCY, f"unhealthy: {', '.join(down)}"),
            rejected(CAPACITY, "more consumers would only add load on the failing dependency"),
        ]
        return await hand_off(ctx, finding, f"{ctx.target}: backlog {depth:.0f} while {', '.join(down)} is unhealthy")
    spec = ctx.catalog.get("scale_service")
    ceiling = spec.params["replicas"].max if spec and "replicas" in spec.params else None
    wanted = replicas * SCALE_FACTOR if ceiling is None else min(replicas * SCALE_FACTOR, ceiling)
    finding.hypotheses += [
        supported(CAPACITY, f"{depth:.0f} messages waiting on {replicas} consumers"),
        rejected(DEPENDENCY, "every dependency is healthy"),
    ]
    if wanted <= replicas:
        return await hand_off(ctx, finding, f"{ctx.target}: backlog {depth:.0f} at the replica ceiling {ceiling}")
    finding.candidates.append(
        Candidate(
            kind="scale_service",
            target=ctx.target,
            params={"replicas": wanted},
            confidence=0.8,
            rationale=f"{depth:.0f} messages waiting on {replicas} consumers: double them to {wanted}",
        )
    )
    finding.summary = f"{ctx.target}: backlog {depth:.0f} on {replicas} consumers; scale to {wanted}"
    finding.evidence = ctx.tools.items
    return finding


RUNBOOK = Runbook(
    name="queue_backlog",
    version=1,
    triggers=("queue_backlog",),
    tools=(GET_SERVICE, GET_DEPENDENCIES, GET_LOGS, GET_OWNER),
    steps=(
        "get_service(target): queue_depth, replicas",
        "stop with 'recovered' when queue_depth < 1000",
        "get_dependencies(target): an unhealthy dependency -> hand off (scaling would add load)",
        "get_logs(target, 20) as evidence (consumer lag)",
    ),
    hypotheses=(CAPACITY, DEPENDENCY),
    candidates=(CandidateSpec("scale_service", "replicas = current replicas x 2, capped by the catalog maximum"),),
    escalation=("an unhealthy dependency", "already at the replica ceiling", "the scale-out did not drain the queue"),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
