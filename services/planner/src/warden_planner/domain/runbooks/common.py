"""Diagnostic steps several runbooks share: the recent-deploy question, rollback, handing off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warden_planner.domain.findings import Candidate, Finding, note, supported
from warden_planner.domain.runbooks.base import (
    Deployment,
    RunbookContext,
    deployments_of,
    minutes_since,
    parse_time,
    previous_version,
)

BAD_DEPLOY = "regression in the latest deployment"


@dataclass(frozen=True)
class DeployCheck:
    latest: Deployment | None
    age_min: float | None
    previous: str | None
    recent: bool

    def describe(self, window: int) -> str:
        if self.latest is None or self.age_min is None:
            return "no deployment on record"
        when = f"{self.latest.version} deployed {self.age_min:.0f} min ago"
        return when if self.recent else f"{when} (outside the {window} min window)"


async def check_deploys(ctx: RunbookContext, view: dict[str, Any], window: int) -> DeployCheck:
    deployments = deployments_of(await ctx.tools.deployments(ctx.target))
    latest = deployments[-1] if deployments else None
    age = minutes_since(latest.at, ctx.now) if latest and latest.at else None
    recent = age is not None and age <= window
    return DeployCheck(latest, age, previous_version(view, deployments), recent)


def rollback(ctx: RunbookContext, deploy: DeployCheck, confidence: float, symptom: str) -> Candidate | None:
    if deploy.previous is None or deploy.latest is None:
        return None
    return Candidate(
        kind="rollback_deployment",
        target=ctx.target,
        params={"to_version": deploy.previous},
        confidence=confidence,
        rationale=f"{symptom} since {deploy.latest.version}; return to {deploy.previous}",
    )


def propose_rollback(ctx: RunbookContext, finding: Finding, deploy: DeployCheck, symptom: str) -> bool:
    """Adds a rollback when the latest deploy is recent and a previous version is known."""
    candidate = rollback(ctx, deploy, 0.85, symptom) if deploy.recent else None
    if candidate is None:
        return False
    window = ctx.config.recent_deploy_window_min
    finding.hypotheses.append(supported(BAD_DEPLOY, f"{symptom}; {deploy.describe(window)}"))
    finding.candidates.append(candidate)
    finding.summary = f"{ctx.target}: {symptom} after deploying {deploy.latest.version if deploy.latest else '?'}"
    return True


def recovered(ctx: RunbookContext, finding: Finding, why: str) -> Finding:
    finding.recovered = True
    finding.summary = f"recovered: {ctx.target} {why}; no action"
    finding.hypotheses.append(note(f"{why}: recovered"))
    finding.evidence = ctx.tools.items
    return finding


async def hand_off(ctx: RunbookContext, finding: Finding, reason: str) -> Finding:
    """Stop with no action; the owner goes into the evidence so the handoff names who to page."""
    owner = await ctx.tools.owner(ctx.target)
    finding.handoff = f"{reason}; owner {owner}"
    finding.summary = finding.handoff
    finding.evidence = ctx.tools.items
    return finding


def unhealthy(entries: list[dict[str, Any]], error_threshold: float) -> list[str]:
    names = []
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        healthy = entry.get("healthy")
        errors = entry.get("error_rate")
        if healthy == 0 or (isinstance(errors, int | float) and errors >= error_threshold):
            names.append(name)
    return names


def recently_deployed(entries: list[dict[str, Any]], ctx: RunbookContext, window: int) -> list[str]:
    names = []
    for entry in entries:
        at = parse_time(entry.get("last_deployed_at"))
        if isinstance(entry.get("name"), str) and at is not None and minutes_since(at, ctx.now) <= window:
            names.append(str(entry["name"]))
    return names
