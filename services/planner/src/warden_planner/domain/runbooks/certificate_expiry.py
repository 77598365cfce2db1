"""certificate_expiry@1: a certificate inside the renewal window is renewed (tier 2: a lead approves)."""

from __future__ import annotations

from warden_planner.domain.findings import Candidate, Finding, supported
from warden_planner.domain.observer import GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import CATALOG_DO_NOT_TOUCH, CandidateSpec, Runbook, RunbookContext, number
from warden_planner.domain.runbooks.common import recovered

EXPIRING = "the TLS certificate is inside the renewal window"


async def investigate(ctx: RunbookContext) -> Finding:
    cfg = ctx.config
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=CATALOG_DO_NOT_TOUCH)
    view = await ctx.tools.service(ctx.target)
    days = number(view, "cert_days_left")
    if days > cfg.cert_days_threshold:
        return recovered(ctx, finding, f"certificate valid for {days:.0f} days")
    await ctx.tools.logs(ctx.target, cfg.log_lines)
    await ctx.tools.owner(ctx.target)
    finding.hypotheses.append(supported(EXPIRING, f"{days:.0f} days left (<= {cfg.cert_days_threshold})"))
    finding.candidates.append(
        Candidate(
            kind="renew_certificate",
            target=ctx.target,
            params={},
            confidence=0.9,
            rationale=f"certificate expires in {days:.0f} days; renewal restores 90 days",
        )
    )
    finding.summary = f"{ctx.target}: TLS certificate expires in {days:.0f} days; renew"
    finding.evidence = ctx.tools.items
    return finding


RUNBOOK = Runbook(
    name="certificate_expiry",
    version=1,
    triggers=("certificate_expiry",),
    tools=(GET_SERVICE, GET_LOGS, GET_OWNER),
    steps=(
        "get_service(target): cert_days_left",
        "stop with 'recovered' when more than 14 days are left",
        "get_logs(target, 20) and get_owner(target) as evidence",
    ),
    hypotheses=(EXPIRING,),
    candidates=(CandidateSpec("renew_certificate", "no parameters"),),
    escalation=("the renewal failed or was denied",),
    do_not_touch=CATALOG_DO_NOT_TOUCH,
    investigate=investigate,
)
