"""handoff@1: classes without a runbook yet go to a human with what the Observer can see."""

from __future__ import annotations

from warden_planner.domain.findings import Finding, note
from warden_planner.domain.observer import GET_LOGS, GET_OWNER, GET_SERVICE
from warden_planner.domain.runbooks.base import Runbook, RunbookContext


async def investigate(ctx: RunbookContext) -> Finding:
    await ctx.tools.service(ctx.target)
    await ctx.tools.logs(ctx.target, ctx.config.log_lines)
    owner = await ctx.tools.owner(ctx.target)
    klass = ctx.incident.incident_class
    reason = f"no runbook for incident class {klass!r}: handing {ctx.target} to {owner} with the evidence"
    return Finding(
        runbook=RUNBOOK.ref,
        summary=reason,
        hypotheses=[note(f"class {klass!r} has no runbook")],
        evidence=ctx.tools.items,
        handoff=reason,
    )


RUNBOOK = Runbook(
    name="handoff",
    version=1,
    triggers=("unknown",),
    tools=(GET_SERVICE, GET_LOGS, GET_OWNER),
    steps=("get_service(target)", "get_logs(target, 20)", "get_owner(target)", "hand off with the evidence"),
    hypotheses=(),
    candidates=(),
    escalation=("always: the incident class has no runbook",),
    do_not_touch=("*",),
    investigate=investigate,
)
