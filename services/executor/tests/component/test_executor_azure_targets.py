"""Azure providers through the real azure-mgmt-web / azure-mgmt-compute SDKs against an HTTPS
double of the ARM endpoints they call (GET resource, POST restart, PATCH scale set, LRO polling)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.web.aio import WebSiteManagementClient
from warden_contracts.catalog import default_catalog
from warden_executor.adapters.azure_targets import AzureResourceProvider, parse_arm_id
from warden_executor.domain.model import TargetActionFailed, TargetNotFound

SUB = "00000000-0000-0000-0000-00000000abcd"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-shop-dev/providers"
SITE = f"{RG}/Microsoft.Web/sites/checkout-api"
VM = f"{RG}/Microsoft.Compute/virtualMachines/batch-01"
VMSS = f"{RG}/Microsoft.Compute/virtualMachineScaleSets/orders-vmss"


@dataclass
class ArmDouble:
    site_state: str = "Running"
    vm_power: str = "running"
    vmss_capacity: int = 2
    restart_error: tuple[int, str] | None = None
    seen: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    operations: dict[str, int] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.seen if m in {"POST", "PATCH", "PUT"}]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.seen.append((request.method, request.path, dict(request.query), body))
        if request.headers.get("Authorization") != "Bearer test-token" or "api-version" not in request.query:
            return web.json_response({"error": {"code": "Unauthorized", "message": "no"}}, status=401)
        path, method = request.path, request.method
        if path.startswith("/operations/"):
            return web.json_response({"status": "Succeeded"})
        if path == SITE and method == "GET":
            return web.json_response(
                {"id": SITE, "name": "checkout-api", "location": "westeurope", "properties": {"state": self.site_state}}
            )
        if path == f"{SITE}/restart" and method == "POST":
            if self.restart_error:
                status, message = self.restart_error
                return web.json_response({"error": {"code": "Conflict", "message": message}}, status=status)
            self.site_state = "Running"
            return web.Response(status=200)
        if path == f"{VM}/instanceView" and method == "GET":
            statuses = [{"code": "ProvisioningState/succeeded"}, {"code": f"PowerState/{self.vm_power}"}]
            return web.json_response({"statuses": statuses})
        if path in {f"{VM}/restart", f"{VMSS}/restart"} and method == "POST":
            self.vm_power = "running"
            return self.accepted(request)
        if path == VMSS and method == "GET":
            return web.json_response(self.vmss())
        if path == VMSS and method == "PATCH":
            self.vmss_capacity = body["sku"]["capacity"]
            return web.json_response(self.vmss())
        return web.json_response({"error": {"code": "ResourceNotFound", "message": f"{path} not found"}}, status=404)

    def accepted(self, request: web.Request) -> web.Response:
        # ARM's asynchronous operation pattern: 202 + Azure-AsyncOperation, polled until Succeeded.
        op = f"/operations/{len(self.operations)}"
        self.operations[op] = 0
        url = f"{request.scheme}://{request.host}{op}?api-version=2024-01-01"
        return web.Response(status=202, headers={"Azure-AsyncOperation": url, "Location": url, "Retry-After": "0"})

    def vmss(self) -> dict[str, Any]:
        return {
            "id": VMSS,
            "name": "orders-vmss",
            "location": "westeurope",
            "sku": {"name": "Standard_D2s_v3", "tier": "Standard", "capacity": self.vmss_capacity},
            "properties": {"provisioningState": "Succeeded"},
        }


@pytest.fixture
def arm() -> ArmDouble:
    return ArmDouble()


@pytest.fixture
async def provider(arm, https_app, tls, azure_credential):
    base = await https_app(arm.app())
    options = {"base_url": base, "connection_verify": tls.cert_path, "retry_total": 0}
    async with (
        WebSiteManagementClient(azure_credential, SUB, **options) as websites,
        ComputeManagementClient(azure_credential, SUB, **options) as compute,
    ):
        yield AzureResourceProvider(websites, compute, default_catalog(), polling_interval_s=0.01)


async def test_app_service_restart_waits_for_the_restart_and_captures_before_and_after(provider, arm, kit):
    arm.site_state = "Stopped"

    result = await provider.act("restart_service", SITE, {}, kit.grant())

    assert (result.before["healthy"], result.after["healthy"]) == (0, 1)
    assert arm.writes() == [("POST", f"{SITE}/restart")]
    [query] = [q for m, p, q, _ in arm.seen if m == "POST"]
    assert query["synchronous"] == "true"


async def test_vm_restart_follows_the_long_running_operation_to_its_end(provider, arm, kit):
    arm.vm_power = "stopped"

    result = await provider.act("restart_service", VM, {}, kit.grant())

    assert (result.before["state"], result.after["state"]) == ("stopped", "running")
    assert any(p.startswith("/operations/") for _, p, _, _ in arm.seen)


async def test_scale_set_scale_sets_the_sku_capacity(provider, arm, kit):
    result = await provider.act("scale_service", VMSS, {"replicas": 4}, kit.grant())

    assert (result.before["replicas"], result.after["replicas"]) == (2, 4)
    [body] = [b for m, _, _, b in arm.seen if m == "PATCH"]
    assert body["sku"]["capacity"] == 4


async def test_scale_set_restart(provider, arm, kit):
    await provider.act("restart_service", VMSS, {}, kit.grant())
    assert arm.writes() == [("POST", f"{VMSS}/restart")]


@pytest.mark.parametrize(
    ("kind", "target", "params", "reason"),
    [
        ("scale_service", VMSS, {"replicas": 11}, "above the maximum 10"),
        ("scale_service", VMSS, {"replicas": "4"}, "expected int"),
        ("scale_service", VMSS, {}, "replicas"),
        ("rollback_deployment", SITE, {"to_version": "v1.2"}, "not supported on microsoft.web/sites"),
        ("failover_region", SITE, {}, None),
    ],
)
async def test_arguments_outside_the_catalog_bounds_never_reach_azure(provider, arm, kit, kind, target, params, reason):
    with pytest.raises(TargetActionFailed) as refused:
        await provider.act(kind, target, params, kit.grant())

    if reason:
        assert reason in str(refused.value)
    assert arm.writes() == []


async def test_refused_write_carries_arms_reason(provider, arm, kit):
    arm.restart_error = (409, "The app is being deployed")

    with pytest.raises(TargetActionFailed, match=r"HTTP 409.*being deployed"):
        await provider.act("restart_service", SITE, {}, kit.grant())


async def test_unknown_resource_is_not_found(provider):
    with pytest.raises(TargetNotFound):
        await provider.observe(f"{RG}/Microsoft.Web/sites/nope")
    with pytest.raises(TargetNotFound, match="not an ARM resource id"):
        parse_arm_id("checkout-api")
