"""security_alert@1: never remediated by the agent; the responder gets context, nothing is touched."""

from __future__ import annotations

from warden_planner.domain.findings import Finding, note
from warden_planner.domain.observer import GET_DEPLOYMENTS, GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import Runbook, RunbookContext
from warden_planner.domain.runbooks.common import hand_off


async def investigate(ctx: RunbookContext) -> Finding:
    finding = Finding(runbook=RUNBOOK.ref, summary="", do_not_touch=("*",))
    await ctx.tools.service(ctx.target)
    await ctx.tools.deployments(ctx.target)
    await ctx.tools.logs(ctx.target, ctx.config.log_lines)
    finding.hypotheses.append(
        note(
            "security incidents need a human: an automated change could destroy forensic evidence "
            "or tip off an attacker"
        )
    )
    return await hand_off(ctx, finding, f"security alert on {ctx.target}: handed to the security responder untouched")


RUNBOOK = Runbook(
    name="security_alert",
    version=1,
    triggers=("security_alert",),
    tools=(GET_SERVICE, GET_DEPLOYMENTS, GET_LOGS, GET_OWNER),
    steps=(
        "get_service(target), get_deployments(target), get_logs(target, 20): context for the responder",
        "get_owner(target): who else must know",
        "hand off, always",
    ),
    hypotheses=(),
    candidates=(),
    escalation=("always",),
    do_not_touch=("*",),
    investigate=investigate,
)
