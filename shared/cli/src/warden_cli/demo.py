"""`warden demo`: four real incidents through the real embedded stack, checked end to end.

1. Autonomous: a memory leak on checkout-api (dev) is fixed by a restart without a human.
2. Review: a bad deployment of payments-api (prod) is rolled back (tier 2 in production: two
   leads, bob and dave, approve from the CLI).
3. Tier 2 in Autonomous: web-frontend's (staging) certificate renewal waits for a lead although
   its plan is Autonomous; bob approves and the renewal is verified.
4. Timeout: orders-worker's (dev) queue backlog fix is never approved; the demo plan's short
   deadline expires, nothing runs, and policy raises a P1 with the evidence.
Exits non-zero when any does not end as expected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from warden_audit import api as audit
from warden_contracts.events import ApprovalDecision
from warden_policy import api as policy

from warden_cli.launcher import EmbeddedStack, StackFailed, StackOptions, service_log_tail
from warden_cli.layout import SERVICES, Layout
from warden_cli.operations import decide, inject_fault
from warden_cli.timeline import IncidentView, render

Say = Callable[[str], None]
# The demo world's own plan: a deadline short enough to watch it expire.
DEMO_DEADLINE_S = 8
DEMO_PLAN = {
    "name": "demo-queue-backlog-short-deadline",
    "match": {"incident_classes": ["queue_backlog"], "environments": ["dev"]},
    "run_mode": "review",
    "approval_timeout_s": DEMO_DEADLINE_S,
}


class DemoFailed(RuntimeError):
    pass


@dataclass
class Outcome:
    name: str
    incident: IncidentView
    ok: bool
    detail: str


def _incident_for(layout: Layout, service: str) -> IncidentView | None:
    views = [v for v in audit.incidents(layout.audit_dir).values() if v.service == service]
    return views[0] if views else None


async def _wait(
    layout: Layout,
    service: str,
    what: str,
    check: Callable[[IncidentView], bool],
    timeout: float,
    *,
    escalation_fails: bool = True,
) -> IncidentView:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = _incident_for(layout, service)
        if view is not None and check(view):
            return view
        if escalation_fails and view is not None and view.of_type("sre.escalation.raised.v1"):
            raise DemoFailed(f"{service}: escalated instead of {what}:\n{render(view)}")
        await asyncio.sleep(0.25)
    view = _incident_for(layout, service)
    raise DemoFailed(f"{service}: no {what} within {timeout:.0f}s" + (f"\n{render(view)}" if view else ""))


def _fixed(view: IncidentView) -> bool:
    # Done means verified, resolved by the monitor's Resolved alert, and the elevation given up.
    released = [d for d in view.of_type("sre.elevation.changed.v1") if d["state"] == "deactivated"]
    return bool(view.reports("verified")) and view.state == "resolved" and bool(released)


async def autonomous_scenario(layout: Layout, say: Say, timeout: float) -> Outcome:
    say("Scenario 1 (Autonomous): memory leak injected into checkout-api [dev]")
    await inject_fault(layout, "checkout-api", "memory_leak")
    view = await _wait(layout, "checkout-api", "verified fix and resolution", _fixed, timeout)
    approvals = view.of_type("sre.approval.requested.v1")
    ok = not approvals and view.reports("verified")[0]["kind"] == "restart_service"
    return Outcome("autonomous", view, ok, "restart verified without a human" if ok else "unexpected path")


async def review_scenario(layout: Layout, say: Say, timeout: float) -> Outcome:
    say("Scenario 2 (Review): bad deployment v3.2.0 of payments-api [prod]")
    await inject_fault(layout, "payments-api", "bad_deploy", version="v3.2.0")
    view = await _wait(layout, "payments-api", "approval request", lambda v: bool(v.pending_approvals()), timeout)
    request = view.pending_approvals()[0]
    say(
        f"  approval {request['approval_id']} requested: {request['action']['kind']} {request['action']['params']}"
        f" (tier {request['tier']}, {request.get('approvals_required', 1)} approvals)"
        " -> approving as bob and dave (warden approve ... --as bob, then --as dave)"
    )
    # A rollback is tier 2, and tier 2 in production needs two distinct leads.
    for lead in ("bob", "dave"):
        await decide(layout, request["approval_id"], ApprovalDecision.APPROVE, lead, "demo: rollback is the right call")
    view = await _wait(layout, "payments-api", "verified fix and resolution", _fixed, timeout)
    ok = view.reports("verified")[0]["kind"] == "rollback_deployment"
    return Outcome("review", view, ok, "rollback approved by bob and dave, verified" if ok else "unexpected path")


async def tier_two_scenario(layout: Layout, say: Say, timeout: float) -> Outcome:
    say("Scenario 3 (Autonomous, tier 2): certificate of web-frontend [staging] expires in 10 days")
    await inject_fault(layout, "web-frontend", "cert_expiring", days=10)
    view = await _wait(layout, "web-frontend", "approval request", lambda v: bool(v.pending_approvals()), timeout)
    request = view.pending_approvals()[0]
    gate = next(d for d in view.of_type("sre.policy.decided.v1") if d["outcome"] == "await_approval")
    say(
        f"  {request['action']['kind']} is tier {request['tier']}: waiting for approval although the plan is "
        f"{gate['run_mode']} -> approving as bob (sre-leads)"
    )
    await decide(layout, request["approval_id"], ApprovalDecision.APPROVE, "bob", "demo: renew before it expires")
    view = await _wait(layout, "web-frontend", "verified renewal and resolution", _fixed, timeout)
    ok = gate["run_mode"] == "autonomous" and view.reports("verified")[0]["kind"] == "renew_certificate"
    return Outcome("tier 2 in autonomous", view, ok, "waited for bob's approval, renewal verified")


def _timed_out(view: IncidentView) -> bool:
    expired = [d for d in view.of_type("sre.policy.decided.v1") if d["outcome"] == "expired"]
    return bool(expired) and any(e["priority"] == "P1" for e in view.of_type("sre.escalation.raised.v1"))


async def timeout_scenario(layout: Layout, say: Say, timeout: float) -> Outcome:
    say(f"Scenario 4 (Timeout): queue backlog on orders-worker [dev]; nobody approves within {DEMO_DEADLINE_S}s")
    await inject_fault(layout, "orders-worker", "queue_backlog", required_replicas=4)
    view = await _wait(layout, "orders-worker", "approval request", lambda v: bool(v.of_type(REQUESTED)), timeout)
    say(f"  approval {view.of_type(REQUESTED)[0]['approval_id']} requested; leaving it unanswered")
    view = await _wait(layout, "orders-worker", "expiry and P1", _timed_out, timeout, escalation_fails=False)
    ok = not view.reports() and not view.of_type("sre.action.approved.v1")
    return Outcome("timeout", view, ok, "deadline expired: no action, P1 raised" if ok else "an action ran anyway")


def demo_policy_config(layout: Layout) -> Path:
    """The shipped plans plus the demo's short-deadline plan, first so it wins."""
    shipped = policy.packaged_config_dir()
    target = layout.root / "policy-config"
    target.mkdir(parents=True, exist_ok=True)
    plans = yaml.safe_load(shipped.joinpath("response_plans.yaml").read_text())
    plans["response_plans"].insert(0, DEMO_PLAN)
    (target / "response_plans.yaml").write_text(yaml.safe_dump(plans, sort_keys=False))
    (target / "approvers.yaml").write_text(shipped.joinpath("approvers.yaml").read_text())
    return target


SCENARIOS = (autonomous_scenario, review_scenario, tier_two_scenario, timeout_scenario)
REQUESTED = "sre.approval.requested.v1"


async def run_demo(layout: Layout, say: Say, *, timeout: float = 90.0, tick_s: float = 1.0) -> bool:
    started = time.monotonic()
    config = demo_policy_config(layout)
    options = StackOptions(tick_s=tick_s, extra_env={"policy": {"WARDEN_POLICY_CONFIG_DIR": str(config)}})
    stack = EmbeddedStack(layout, options)
    say(f"Starting the embedded stack under {layout.root} ...")
    outcomes: list[Outcome] = []
    try:
        await stack.start()
        say(f"  up in {time.monotonic() - started:.1f}s: webhook {stack.webhook_url}, sandbox {stack.sandbox_url}")
        for scenario in SCENARIOS:
            outcomes.append(await scenario(layout, say, timeout))
    except (DemoFailed, StackFailed) as err:
        say(f"DEMO FAILED: {err}")
        for name in SERVICES:
            say(f"--- last log lines of {name} ---\n{service_log_tail(layout, name, 8)}")
    finally:
        await stack.stop()
    for outcome in outcomes:
        say("")
        say(render(_incident_for(layout, outcome.incident.service or "") or outcome.incident))
        say(f"  => {outcome.name}: {'OK' if outcome.ok else 'FAILED'} - {outcome.detail}")
    report = audit.verify(layout.audit_dir).report
    say("")
    say(
        f"warden audit verify: {'OK' if report.ok else 'FAILED'} - {report.records} records"
        + ("" if report.ok else f", first bad record {report.first_bad_seq}: {report.problem}")
    )
    ok = len(outcomes) == len(SCENARIOS) and all(o.ok for o in outcomes) and report.ok
    say(f"Demo {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.1f}s")
    return ok
