"""Service Bus clients from settings: Entra ID in Azure, a connection string only for the emulator."""

from __future__ import annotations

from dataclasses import dataclass

from azure.identity.aio import DefaultAzureCredential
from azure.servicebus.aio import ServiceBusClient


class ServiceBusConfigError(ValueError):
    pass


@dataclass
class ServiceBusConnection:
    client: ServiceBusClient
    credential: DefaultAzureCredential | None = None

    async def close(self) -> None:
        await self.client.close()
        if self.credential is not None:
            await self.credential.close()


def is_emulator_connection(connection: str) -> bool:
    parts = dict(p.split("=", 1) for p in connection.strip().rstrip(";").split(";") if "=" in p)
    lowered = {k.strip().lower(): v.strip() for k, v in parts.items()}
    return lowered.get("usedevelopmentemulator", "").lower() == "true"


def connect(
    *, namespace: str | None, connection: str | None, managed_identity_client_id: str | None = None
) -> ServiceBusConnection:
    """`namespace` is the fully qualified name (`<ns>.servicebus.windows.net`).

    Shared keys are refused for real namespaces: a leaked key outlives every identity and bypasses
    the per-topic RBAC the topology grants, so only the local emulator may use one."""
    if connection:
        if not is_emulator_connection(connection):
            raise ServiceBusConfigError(
                "WARDEN_SERVICEBUS_CONNECTION is accepted only for the local emulator "
                "(UseDevelopmentEmulator=true); use WARDEN_SERVICEBUS_NAMESPACE and a managed identity"
            )
        return ServiceBusConnection(ServiceBusClient.from_connection_string(connection))
    if not namespace:
        raise ServiceBusConfigError("WARDEN_SERVICEBUS_NAMESPACE is required for the servicebus bus backend")
    credential = DefaultAzureCredential(managed_identity_client_id=managed_identity_client_id)
    return ServiceBusConnection(ServiceBusClient(namespace, credential), credential)
