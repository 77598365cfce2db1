"""Entra PIM elevation through the real azure-mgmt-authorization SDK against an HTTPS double of
the documented ARM endpoints (roleEligibilityScheduleInstances, roleAssignmentScheduleRequests)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from azure.mgmt.authorization.v2020_10_01.aio import AuthorizationManagementClient
from warden_executor.adapters.azure_pim import (
    ActivationFailed,
    NotEligible,
    PendingApproval,
    PimActivator,
    PimElevation,
    RoleActivation,
    pim_duration,
)

SUB = "00000000-0000-0000-0000-00000000abcd"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-shop-dev"
SITE = f"{RG}/providers/Microsoft.Web/sites/checkout-api"
ROLES = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
CONTRIBUTOR = f"{ROLES}/de139f84-1756-47ae-9be6-808fbbe84772"
READER = f"{ROLES}/acdd72a7-3385-48ef-bd42-f606fba81ae7"
PRINCIPAL = "11111111-2222-3333-4444-555555555555"
PROVIDERS = "/providers/Microsoft.Authorization/"


@dataclass
class PimDouble:
    """ARM's PIM endpoints as documented (api-version 2020-10-01), with scripted outcomes."""

    eligibilities: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: ["Accepted", "Provisioned"])
    throttle: int = 0
    create_error: tuple[int, str, str] | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "body": body,
                "auth": request.headers.get("Authorization"),
            }
        )
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response(
                {"error": {"code": "TooManyRequests", "message": "throttled"}}, status=429, headers={"Retry-After": "1"}
            )
        if request.query.get("api-version") != "2020-10-01":
            return web.json_response({"error": {"code": "InvalidApiVersion", "message": "?"}}, status=400)
        scope, _, rest = request.path.lstrip("/").partition(PROVIDERS.lstrip("/"))
        scope = "/" + scope.strip("/")
        parts = rest.split("/")
        if parts[0] == "roleEligibilityScheduleInstances" and request.method == "GET":
            return self.list_eligibilities(scope, request.query.get("$filter", ""))
        if parts[0] == "roleAssignmentScheduleRequests" and len(parts) >= 2:
            if len(parts) == 3 and parts[2] == "cancel" and request.method == "POST":
                self.cancelled.append(parts[1])
                return web.Response(status=200)
            if request.method == "PUT":
                return self.create(scope, parts[1], body or {})
            if request.method == "GET":
                return self.get(scope, parts[1])
        return web.json_response({"error": {"code": "NotFound", "message": request.path}}, status=404)

    def list_eligibilities(self, scope: str, filter_: str) -> web.Response:
        value = [
            {
                "id": f"{e['scope']}{PROVIDERS}roleEligibilityScheduleInstances/{e['name']}",
                "name": e["name"],
                "type": "Microsoft.Authorization/roleEligibilityScheduleInstances",
                "properties": {
                    "scope": e["scope"],
                    "roleDefinitionId": e["role"],
                    "principalId": e["principal"],
                    "principalType": "ServicePrincipal",
                    "roleEligibilityScheduleId": f"{e['scope']}{PROVIDERS}roleEligibilitySchedules/{e['name']}",
                    "status": "Provisioned",
                    "memberType": "Direct",
                },
            }
            for e in self.eligibilities
            if filter_ == f"assignedTo('{e['principal']}')" and scope.lower().startswith(e["scope"].lower())
        ]
        return web.json_response({"value": value})

    def _view(self, scope: str, name: str) -> dict[str, Any]:
        stored = self.requests[name]
        return {
            "id": f"{scope}{PROVIDERS}roleAssignmentScheduleRequests/{name}",
            "name": name,
            "type": "Microsoft.Authorization/RoleAssignmentScheduleRequests",
            "properties": {**stored["properties"], "scope": scope, "status": stored["status"]},
        }

    def create(self, scope: str, name: str, body: dict[str, Any]) -> web.Response:
        if self.create_error:
            status, code, message = self.create_error
            return web.json_response({"error": {"code": code, "message": message}}, status=status)
        props = body["properties"]
        first = self.statuses[0] if props["requestType"] == "SelfActivate" else "Revoked"
        self.requests[name] = {"properties": props, "status": first, "polls": 0}
        return web.json_response(self._view(scope, name), status=201)

    def get(self, scope: str, name: str) -> web.Response:
        stored = self.requests[name]
        stored["polls"] += 1
        stored["status"] = self.statuses[min(stored["polls"], len(self.statuses) - 1)]
        return web.json_response(self._view(scope, name))

    def puts(self, request_type: str) -> list[dict[str, Any]]:
        return [
            s["body"]["properties"]
            for s in self.seen
            if s["method"] == "PUT" and s["body"]["properties"]["requestType"] == request_type
        ]


@pytest.fixture
def double() -> PimDouble:
    return PimDouble(
        eligibilities=[
            {"name": "e-reader", "scope": RG, "role": READER, "principal": PRINCIPAL},
            {"name": "e-contrib", "scope": RG, "role": CONTRIBUTOR, "principal": PRINCIPAL},
            {"name": "e-other", "scope": RG, "role": CONTRIBUTOR, "principal": "someone-else"},
        ]
    )


@pytest.fixture
async def pim(double, https_app, tls, azure_credential, clock):
    base = await https_app(double.app())
    client = AuthorizationManagementClient(
        azure_credential, base_url=base, connection_verify=tls.cert_path, retry_total=3, retry_backoff_factor=0.1
    )
    async with client:
        yield PimElevation(
            PimActivator(client, PRINCIPAL, clock, poll_interval_s=1.0, activation_timeout_s=30),
            PRINCIPAL,
            [RoleActivation(SITE, CONTRIBUTOR)],
            clock,
        )


JUSTIFICATION = "incident inc-7 action act-42 approved by alice, bob"


async def test_eligible_role_is_self_activated_for_the_drain_and_deactivated(pim, double, clock):
    grant = await pim.elevate(JUSTIFICATION, 150)

    [activate] = double.puts("SelfActivate")
    assert activate["principalId"] == PRINCIPAL
    assert activate["roleDefinitionId"] == CONTRIBUTOR
    assert activate["linkedRoleEligibilityScheduleId"].endswith("/roleEligibilitySchedules/e-contrib")
    assert activate["justification"] == JUSTIFICATION
    assert activate["scheduleInfo"]["expiration"] == {"type": "AfterDuration", "duration": "PT3M"}
    assert activate["ticketInfo"] == {"ticketNumber": grant.grant_id, "ticketSystem": "warden"}
    assert all(s["auth"] == "Bearer test-token" for s in double.seen)
    listing = double.seen[0]
    assert listing["path"].endswith(f"{SITE}{PROVIDERS}roleEligibilityScheduleInstances")
    assert listing["query"]["$filter"] == f"assignedTo('{PRINCIPAL}')"
    assert grant.seconds_left(clock.now()) == pytest.approx(150)
    assert clock.slept == pytest.approx(1.0)  # polled once: Accepted, then Provisioned

    await pim.release(grant)

    [deactivate] = double.puts("SelfDeactivate")
    assert deactivate["linkedRoleEligibilityScheduleId"] == activate["linkedRoleEligibilityScheduleId"]
    assert grant.grant_id in deactivate["justification"]
    assert not any("roleEligibilityScheduleRequests" in s["path"] for s in double.seen)  # never creates one


async def test_not_eligible_activates_nothing_and_creates_nothing(pim, double):
    double.eligibilities = [e for e in double.eligibilities if e["role"] != CONTRIBUTOR or e["name"] == "e-other"]

    with pytest.raises(NotEligible, match="no eligibility for role de139f84"):
        await pim.elevate(JUSTIFICATION, 120)

    assert [s["method"] for s in double.seen] == ["GET"]


async def test_role_that_needs_a_pim_approver_is_cancelled_not_left_pending(pim, double):
    double.statuses = ["PendingApproval"]

    with pytest.raises(PendingApproval, match="awaits a PIM approver"):
        await pim.elevate(JUSTIFICATION, 120)

    assert double.cancelled == list(double.requests)


async def test_activation_refused_by_pim_policy_is_reported_with_the_reason(pim, double):
    double.create_error = (400, "RoleAssignmentRequestPolicyValidationFailed", "ExpirationRule: duration too long")

    with pytest.raises(ActivationFailed, match="RoleAssignmentRequestPolicyValidationFailed"):
        await pim.elevate(JUSTIFICATION, 120)


async def test_denied_activation_fails(pim, double):
    double.statuses = ["Accepted", "Denied"]

    with pytest.raises(ActivationFailed, match="Denied"):
        await pim.elevate(JUSTIFICATION, 120)


async def test_throttling_is_retried_after_retry_after_then_succeeds(pim, double):
    double.throttle = 2

    grant = await pim.elevate(JUSTIFICATION, 120)

    assert [s["method"] for s in double.seen[:3]] == ["GET", "GET", "GET"]  # two 429s, then the listing
    assert len(double.puts("SelfActivate")) == 1
    await pim.release(grant)


async def test_throttling_beyond_the_retry_budget_fails_the_elevation(pim, double):
    double.throttle = 100

    with pytest.raises(ActivationFailed, match="429"):
        await pim.elevate(JUSTIFICATION, 120)

    assert double.puts("SelfActivate") == []


def test_duration_is_whole_minutes_rounded_up():
    assert [pim_duration(s) for s in (1, 60, 61, 3600)] == ["PT1M", "PT1M", "PT2M", "PT60M"]
    assert json.dumps(datetime.now(UTC).isoformat())  # aware timestamps only
