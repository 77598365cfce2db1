"""Scheduled tasks on the planner, over a real NATS server and a local estate API double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from warden_bus.runtime import ServiceRuntime
from warden_contracts.catalog import default_catalog
from warden_contracts.envelope import Envelope, envelope_for
from warden_contracts.events import PlanProposed, TaskDue, TaskReported
from warden_planner.adapters.sandbox_estate import SandboxEstate
from warden_planner.scheduled_tasks import register_scheduled_tasks
from warden_testkit.bus import EmbeddedBroker

NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def view(name: str, **over: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "environment": "dev",
        "resource_group": "rg-dev",
        "replicas": 2,
        "healthy": 1,
        "memory_pct": 50.0,
        "error_rate": 0.0,
        "disk_pct": 40.0,
        "queue_depth": 0,
        "cert_days_left": 180,
    }
    return base | over


ESTATE = [
    view("checkout-api", memory_pct=91.0),
    view("payments-api", healthy=0, cert_days_left=5),
    view("search-api", memory_pct=12.0, replicas=4, cert_days_left=15),
]


@pytest.fixture
async def estate_url() -> AsyncIterator[str]:
    state = {"broken": False}

    async def services(_: web.Request) -> web.Response:
        if state["broken"]:
            return web.Response(status=503, text="down")
        return web.json_response({"services": ESTATE})

    async def breaker(_: web.Request) -> web.Response:
        state["broken"] = True
        return web.Response()

    app = web.Application()
    app.add_routes([web.get("/v1/services", services), web.post("/break", breaker)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def planner(broker: EmbeddedBroker, estate_url: str) -> AsyncIterator[ServiceRuntime]:
    runtime = ServiceRuntime(name="planner", bus=broker.bus("planner"))
    register_scheduled_tasks(runtime, default_catalog(), lambda: NOW, SandboxEstate(estate_url))
    await runtime.bus.start()
    yield runtime
    await runtime.bus.stop()
    for hook in runtime.on_stop:
        await hook()


async def send_due(broker: EmbeddedBroker, kind: str, read_only: bool = True, **params: Any) -> Envelope:
    due = TaskDue(
        task=f"t-{kind}",
        run_id=f"run-{kind}-{read_only}",
        kind=kind,
        scheduled_for=NOW,
        cron="0 6 * * *",
        read_only=read_only,
        params=params,
        missed=[NOW.replace(day=20)],
        missed_count=1,
    )
    env = envelope_for("sre.task.due.v1", due, source="warden/scheduler", correlationid=f"task:{due.run_id}")
    bus = broker.bus("scheduler")
    await bus.start()
    try:
        await bus.publish(env)
    finally:
        await bus.stop()
    return env


async def report_for(broker: EmbeddedBroker, cause: Envelope) -> TaskReported:
    [found] = await broker.wait_for("sre.task.reported.v1", lambda e: e.causationid == cause.id, timeout=30)
    assert found.correlationid == cause.correlationid
    return found.payload(TaskReported)


async def test_health_check_reports_every_service_and_the_missed_run(
    broker: EmbeddedBroker, planner: ServiceRuntime
) -> None:
    cause = await send_due(broker, "health_check")
    report = await report_for(broker, cause)
    assert report.status == "completed" and report.missed_count == 1
    severities = {f.subject: f.severity for f in report.findings}
    assert severities == {"checkout-api": "warning", "payments-api": "critical", "search-api": "ok"}
    assert "1 critical, 1 warning, 1 ok" in report.summary and "1 scheduled run(s) were missed" in report.summary
    assert report.proposals == []


async def test_cost_report_flags_idle_capacity(broker: EmbeddedBroker, planner: ServiceRuntime) -> None:
    report = await report_for(broker, await send_due(broker, "cost_report", idle_memory_pct=30))
    info = [f.subject for f in report.findings if f.severity == "info"]
    assert info == ["search-api"]


async def test_cert_sweep_proposes_renewals_through_the_policy_gate(
    broker: EmbeddedBroker, planner: ServiceRuntime
) -> None:
    cause = await send_due(broker, "cert_expiry", read_only=False, threshold_days=21)
    report = await report_for(broker, cause)
    plans = [
        e.payload(PlanProposed)
        for e in await broker.wait_for("sre.plan.proposed.v1", lambda e: e.causationid == cause.id, count=2)
    ]
    assert sorted(p.actions[0].target for p in plans) == ["payments-api", "search-api"]
    assert {p.scheduled_task for p in plans} == {"t-cert_expiry"}
    assert {p.actions[0].kind for p in plans} == {"renew_certificate"}
    assert sorted(report.proposals) == sorted(p.plan_id for p in plans)


async def test_read_only_cert_sweep_only_reports(broker: EmbeddedBroker, planner: ServiceRuntime) -> None:
    cause = await send_due(broker, "cert_expiry", read_only=True)
    report = await report_for(broker, cause)
    assert report.proposals == [] and any(f.severity == "critical" for f in report.findings)
    assert [e for e in await broker.read_all("sre.plan.proposed.v1") if e.causationid == cause.id] == []


async def test_an_unreachable_estate_is_a_failed_report_not_a_crash(
    broker: EmbeddedBroker, planner: ServiceRuntime, estate_url: str
) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(f"{estate_url}/break"):
        pass
    report = await report_for(broker, await send_due(broker, "health_check"))
    assert report.status == "failed" and "HTTP 503" in report.summary
