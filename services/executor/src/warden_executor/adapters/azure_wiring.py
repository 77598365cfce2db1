"""Builds the Azure adapters from explicit values (the composition root reads the settings).

Targets are routed by address: an ARM resource id goes to the Azure resource provider, a
`namespace/deployment` to the AKS cluster's Kubernetes API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.authorization.v2020_10_01.aio import AuthorizationManagementClient
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.web.aio import WebSiteManagementClient
from kubernetes.client import ApiClient
from kubernetes.config import new_client_from_config
from warden_contracts.catalog import Catalog

from warden_executor.adapters.azure_pim import PimActivator, PimElevation, RoleActivation
from warden_executor.adapters.azure_targets import AzureResourceProvider
from warden_executor.adapters.kubernetes_targets import KubernetesDeploymentProvider
from warden_executor.domain.execution import TargetProvider
from warden_executor.domain.model import ActResult, Grant, TargetNotFound
from warden_executor.domain.verification import Clock


def parse_roles(specs: list[str]) -> list[RoleActivation]:
    """`<scope>|<role definition id>` per role, e.g. the approved-actions subscription's
    Data Receiver role and a Contributor role on the remediated resource group."""
    roles = []
    for spec in specs:
        scope, sep, role = spec.partition("|")
        if not sep or not scope.startswith("/") or not role:
            raise ValueError(f"PIM role {spec!r}: expected '<scope>|<role definition id>'")
        roles.append(RoleActivation(scope.strip(), role.strip()))
    return roles


@dataclass
class RoutingTargetProvider:
    azure: TargetProvider
    kubernetes: TargetProvider | None

    def _route(self, target: str) -> TargetProvider:
        if target.lower().startswith("/subscriptions/"):
            return self.azure
        if self.kubernetes is None:
            raise TargetNotFound(f"{target}: no Kubernetes cluster is configured")
        return self.kubernetes

    async def observe(self, target: str) -> dict[str, Any]:
        return await self._route(target).observe(target)

    async def act(self, kind: str, target: str, params: dict[str, Any], grant: Grant) -> ActResult:
        return await self._route(target).act(kind, target, params, grant)


@dataclass
class AzureAdapters:
    credential: DefaultAzureCredential
    clients: list[Any]

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.credential.close()


def azure_credential(managed_identity_client_id: str | None) -> DefaultAzureCredential:
    return DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)


def azure_targets(
    adapters: AzureAdapters, subscription_id: str, catalog: Catalog, kubeconfig: Path | None
) -> RoutingTargetProvider:
    web = WebSiteManagementClient(adapters.credential, subscription_id)
    compute = ComputeManagementClient(adapters.credential, subscription_id)
    adapters.clients += [web, compute]
    kube: ApiClient | None = new_client_from_config(str(kubeconfig)) if kubeconfig else None
    return RoutingTargetProvider(
        AzureResourceProvider(web, compute, catalog),
        KubernetesDeploymentProvider(kube, catalog) if kube else None,
    )


def pim_elevation(adapters: AzureAdapters, principal_id: str, roles: list[str], clock: Clock) -> PimElevation:
    client = AuthorizationManagementClient(adapters.credential)
    adapters.clients.append(client)
    return PimElevation(PimActivator(client, principal_id, clock), principal_id, parse_roles(roles), clock)
