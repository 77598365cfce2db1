"""TargetProvider for Azure resources addressed by ARM id: App Service, VM and VM scale set.

Writes run as the executor's managed identity, which holds write rights only while its PIM
activation lasts (see `azure_pim`); the grant itself carries nothing here. Parameters are checked
against the vetted catalog before any SDK call, so the bounds the planner and policy reasoned
about are the bounds enforced at the edge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.models import Sku, VirtualMachineScaleSetUpdate
from azure.mgmt.web.aio import WebSiteManagementClient
from warden_bus import traced
from warden_contracts.catalog import Catalog

from warden_executor.domain.model import ActResult, Grant, TargetActionFailed, TargetNotFound, TargetUnavailable

SITE, VM, VMSS = "microsoft.web/sites", "microsoft.compute/virtualmachines", "microsoft.compute/virtualmachinescalesets"


class ArmId(NamedTuple):
    subscription: str
    resource_group: str
    resource_type: str  # lower-case "namespace/type"
    name: str


def parse_arm_id(resource_id: str) -> ArmId:
    parts = resource_id.strip("/").split("/")
    if len(parts) != 8 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
        raise TargetNotFound(f"{resource_id!r} is not an ARM resource id of a top-level resource")
    if parts[4].lower() != "providers":
        raise TargetNotFound(f"{resource_id!r} is not an ARM resource id of a top-level resource")
    return ArmId(parts[1], parts[3], f"{parts[5]}/{parts[6]}".lower(), parts[7])


Write = Callable[[ArmId, dict[str, Any]], Awaitable[None]]


class AzureResourceProvider:
    def __init__(
        self,
        web: WebSiteManagementClient,
        compute: ComputeManagementClient,
        catalog: Catalog,
        *,
        polling_interval_s: float = 5.0,
    ) -> None:
        self._web, self._compute, self._catalog = web, compute, catalog
        self._poll = polling_interval_s
        self._writes: dict[tuple[str, str], Write] = {
            (SITE, "restart_service"): self._restart_site,
            (VM, "restart_service"): self._restart_vm,
            (VMSS, "restart_service"): self._restart_vmss,
            (VMSS, "scale_service"): self._scale_vmss,
        }

    @traced.action_call("observe")
    async def observe(self, target: str) -> dict[str, Any]:
        arm = parse_arm_id(target)
        try:
            if arm.resource_type == SITE:
                site = await self._web.web_apps.get(arm.resource_group, arm.name)
                return _view(target, arm, healthy=site.state == "Running", state=site.state)
            if arm.resource_type == VM:
                iv = await self._compute.virtual_machines.instance_view(arm.resource_group, arm.name)
                codes = [s.code or "" for s in iv.statuses or []]
                power = next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), "unknown")
                return _view(target, arm, healthy=power == "running", state=power)
            if arm.resource_type == VMSS:
                vmss = await self._compute.virtual_machine_scale_sets.get(arm.resource_group, arm.name)
                state = vmss.provisioning_state or "unknown"
                replicas = vmss.sku.capacity if vmss.sku else None
                return _view(target, arm, healthy=state == "Succeeded", state=state, replicas=replicas)
        except ResourceNotFoundError as err:
            raise TargetNotFound(f"{target}: {err.message}") from err
        except (HttpResponseError, ServiceRequestError) as err:
            raise TargetUnavailable(f"GET {target}: {err.message}") from err
        raise TargetNotFound(f"{target}: resource type {arm.resource_type} is not supported")

    @traced.action_call("act")
    async def act(self, kind: str, target: str, params: dict[str, Any], grant: Grant) -> ActResult:
        problems = self._catalog.check(kind, target, params)
        if problems:
            raise TargetActionFailed(f"{kind} on {target} refused: {'; '.join(problems)}")
        arm = parse_arm_id(target)
        write = self._writes.get((arm.resource_type, kind))
        if write is None:
            raise TargetActionFailed(f"{kind} is not supported on {arm.resource_type}")
        before = await self.observe(target)
        try:
            await write(arm, params)
        except HttpResponseError as err:
            raise TargetActionFailed(f"{kind} on {target}: HTTP {err.status_code}: {err.message}") from err
        except ServiceRequestError as err:
            raise TargetActionFailed(f"{kind} on {target}: {err.message}") from err
        return ActResult(before=before, after=await self.observe(target))

    async def _restart_site(self, arm: ArmId, params: dict[str, Any]) -> None:
        # synchronous=True: the call returns once the app has restarted, so verification starts after it.
        await self._web.web_apps.restart(arm.resource_group, arm.name, synchronous=True)

    async def _restart_vm(self, arm: ArmId, params: dict[str, Any]) -> None:
        poller = await self._compute.virtual_machines.begin_restart(
            arm.resource_group, arm.name, polling_interval=self._poll
        )
        await poller.result()

    async def _restart_vmss(self, arm: ArmId, params: dict[str, Any]) -> None:
        poller = await self._compute.virtual_machine_scale_sets.begin_restart(
            arm.resource_group, arm.name, polling_interval=self._poll
        )
        await poller.result()

    async def _scale_vmss(self, arm: ArmId, params: dict[str, Any]) -> None:
        update = VirtualMachineScaleSetUpdate(sku=Sku(capacity=int(params["replicas"])))
        poller = await self._compute.virtual_machine_scale_sets.begin_update(
            arm.resource_group, arm.name, update, polling_interval=self._poll
        )
        await poller.result()


def _view(target: str, arm: ArmId, *, healthy: bool, state: str | None, replicas: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": arm.name,
        "resource_id": target,
        "resource_group": arm.resource_group,
        "healthy": int(healthy),
        "state": state,
    }
    if replicas is not None:
        view["replicas"] = replicas
    return view
