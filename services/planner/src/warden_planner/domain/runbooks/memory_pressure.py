"""memory_pressure@1: a leak in the running version is restarted; a fresh deploy is rolled back."""

from __future__ import annotations

from typing import Any

from warden_planner.domain.findings import Candidate, Finding, note, rejected, supported
from warden_planner.domain.observer import GET_DEPLOYMENTS, GET_LOGS, GET_SERVICE
from warden_planner.domain.runbooks.base import (
    CATALOG_DO_NOT_TOUCH,
    CandidateSpec,
    Deployment,
    Runbook,
    RunbookContext,
    deployments_of,
    minutes_since,
    number,
    previous_version,
)

LEAK = "memory leak in running version"
REGRESSION = "regression in new version"
DO_NOT_TOUCH = CATALOG_DO_NOT_TOUCH


async def investigate(ctx: RunbookContext) -> Finding:
    cfg, target = ctx.config, ctx.target
    view = await ctx.tools.service(target)
    memory = number(view, "memory_pct")
    threshold = cfg.memory_threshold_pct
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=DO_NOT_TOUCH)
    if memory < threshold:
        finding.recovered = True
        finding.summary = f"recovered: {target} memory at {memory:.0f}% (< {threshold:.0f}%); no action"
        finding.hypotheses.append(note(f"memory {memory:.0f}% is below {threshold:.0f}%: recovered"))
        finding.evidence = ctx.tools.items
        return finding
    deployments = deployments_of(await ctx.tools.deployments(target))
    await ctx.tools.logs(target, cfg.log_lines)
    latest = deployments[-1] if deployments else None
    age = minutes_since(latest.at, ctx.now) if latest and latest.at else None
    window = cfg.memory_deploy_window_min
    if latest and age is not None and age <= window:
        _regression(ctx, finding, view, memory, latest.version, age, deployments)
    else:
        _leak(ctx, finding, view, memory, age, window)
    finding.evidence = ctx.tools.items
    return finding


def _regression(
    ctx: RunbookContext,
    finding: Finding,
    view: dict[str, Any],
    memory: float,
    version: str,
    age: float,
    deployments: list[Deployment],
) -> None:
    target = ctx.target
    why = f"{version} deployed {age:.0f} min ago, memory {memory:.0f}%"
    finding.hypotheses += [
        supported(REGRESSION, why),
        rejected(
            LEAK, f"the running version is only {age:.0f} min old; a fresh deploy explains the growth more directly"
        ),
    ]
    previous = previous_version(view, deployments)
    if previous:
        finding.candidates.append(
            Candidate(
                kind="rollback_deployment",
                target=target,
                params={"to_version": previous},
                confidence=0.75,
                rationale=f"memory rose to {memory:.0f}% after {version}; return to {previous}",
            )
        )
    else:
        finding.hypotheses.append(note("no previous version is known: rollback is not possible"))
    finding.candidates.append(
        Candidate(
            kind="restart_service",
            target=target,
            params={},
            confidence=0.4,
            rationale="mitigation only: frees memory but keeps the suspect version",
        )
    )
    finding.summary = f"{target}: memory {memory:.0f}% after deploying {version} {age:.0f} min ago"


def _leak(
    ctx: RunbookContext, finding: Finding, view: dict[str, Any], memory: float, age: float | None, window: int
) -> None:
    target = ctx.target
    last = "no deployment on record" if age is None else f"last deployment {age:.0f} min ago"
    finding.hypotheses += [
        supported(LEAK, f"memory {memory:.0f}%, {last}"),
        rejected(REGRESSION, f"no deployment in the last {window} min"),
    ]
    finding.candidates.append(
        Candidate(
            kind="restart_service",
            target=target,
            params={},
            confidence=0.8,
            rationale=f"memory at {memory:.0f}% with no recent deployment: restart frees the leaked memory",
        )
    )
    replicas = int(number(view, "replicas"))
    spec = ctx.catalog.get("scale_service")
    ceiling = spec.params["replicas"].max if spec and "replicas" in spec.params else None
    wanted = replicas + 1 if ceiling is None else min(replicas + 1, ceiling)
    if wanted > replicas:
        finding.candidates.append(
            Candidate(
                kind="scale_service",
                target=target,
                params={"replicas": wanted},
                confidence=0.5,
                rationale=f"spread the load over {wanted} replicas (from {replicas}) while the leak is found",
            )
        )
    else:
        finding.hypotheses.append(
            note(f"scale_service dropped: {replicas} replicas is already at the catalog maximum {ceiling}")
        )
    finding.summary = f"{target}: memory {memory:.0f}% with {last}; suspected leak in the running version"


RUNBOOK = Runbook(
    name="memory_pressure",
    version=1,
    triggers=("memory_pressure",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS),
    steps=(
        "get_service(target): memory_pct, replicas, version, previous_version",
        "stop with 'recovered' when memory_pct is below the threshold (80%)",
        "get_deployments(target): was the latest deployment within the window (30 min)?",
        "get_logs(target, 20): kept as untrusted evidence for the operator",
    ),
    hypotheses=(LEAK, REGRESSION),
    candidates=(
        CandidateSpec("restart_service", "no parameters (leak: rank 1; regression: mitigation only)"),
        CandidateSpec("scale_service", "replicas = current replicas + 1, capped by the catalog maximum"),
        CandidateSpec("rollback_deployment", "to_version = service previous_version, else the deploy history"),
    ),
    escalation=(
        "a tool fails or answers without memory_pct / replicas",
        "every candidate fails catalog validation",
        "two attempts failed or no candidate is left",
    ),
    do_not_touch=DO_NOT_TOUCH,
    investigate=investigate,
)
