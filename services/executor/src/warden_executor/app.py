"""Composition root: the only place that reads settings and picks adapters.

`create_app(settings, ports, **settings_overrides)`: `ExecutorPorts` replaces the ports (tests,
other clouds); keyword overrides set Settings fields only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from warden_bus.port import Bus, SubscriptionOptions
from warden_bus.runtime import ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts.catalog import Catalog, default_catalog
from warden_contracts.events import ReportStatus
from warden_security.signatures import PublicKey, load_verifying_key, trust

from warden_executor.adapters.clock import SystemClock
from warden_executor.adapters.nats_elevation import NatsApprovedActionSource, NatsElevation
from warden_executor.adapters.sandbox_http import SandboxTargetProvider
from warden_executor.adapters.sql_store import SqlControls, SqlDrainJournal, SqlLedger, SqlStore
from warden_executor.domain.doorbell import (
    ApprovedActionSource,
    DrainCoordinator,
    DrainResult,
    Elevation,
    action_budget_s,
)
from warden_executor.domain.execution import ActionExecutor, TargetProvider
from warden_executor.domain.verification import Clock
from warden_executor.handlers import Handlers

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from warden_executor.adapters.cosmos_ledger import CosmosLedger

SERVICE = "executor"
PENDING_TOPIC = "sre.action.pending.v1"
CONTROL_TOPIC = "sre.control.changed.v1"


class Settings(ServiceSettings):
    sandbox_url: str | None = None
    policy_pubkey: Path | None = Field(
        None, description="the policy's public key (PEM, Ed25519 or EC P-256) that signs approved actions"
    )
    # Azure: also trust the public part of the policy's Key Vault key (read access to the key only).
    keyvault_url: str | None = None
    policy_signing_key_name: str = "policy-action-signing"
    elevation_ttl_s: int = Field(120, ge=1, le=3600)
    # Azure: targets by ARM id (App Service, VM, VMSS) and AKS `namespace/deployment` via kubeconfig;
    # elevation by PIM self-activation of `pim_roles` ("<scope>|<role definition id>") for `remediator_principal_id`.
    target_backend: Literal["sandbox", "azure"] = "sandbox"
    elevation_backend: Literal["embedded", "azure-pim"] = "embedded"
    azure_subscription_id: str | None = None
    aks_kubeconfig: Path | None = None
    remediator_principal_id: str | None = None
    pim_roles: list[str] = Field(default_factory=list)
    # postgresql://...?schema=name for scale-out (several replicas); default: SQLite under <data_dir>/state/.
    executor_store_url: str | None = None
    # Names this replica in the ledger rows it holds: stable across its restarts, unique among
    # replicas. Default: host name and HTTP port (distinct per replica on one host or per container).
    executor_replica_id: str | None = None
    # A replica that stops renewing (killed, frozen) leaves its unfinished actions to the others
    # after this long; it renews every third of it.
    executor_lease_s: float = Field(30.0, ge=3, le=3600)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "state" / "executor.db"

    @property
    def replica_id(self) -> str:
        return self.executor_replica_id or f"{socket.gethostname()}:{self.http_port}"


def policy_keys(s: Settings, credential: Any = None, options: dict[str, Any] | None = None) -> dict[str, PublicKey]:
    """Keys whose signatures the executor accepts, by key id; the key type decides the algorithm."""
    keys: list[PublicKey] = []
    if s.policy_pubkey is not None:
        keys.append(load_verifying_key(s.policy_pubkey))
    if s.keyvault_url:
        from warden_security.keyvault_signer import vault_credential, vault_public_key  # Azure SDK: only here

        keys.append(
            vault_public_key(
                s.keyvault_url,
                s.policy_signing_key_name,
                credential or vault_credential(s.managed_identity_client_id),
                **(options or {}),
            )
        )
    if not keys:
        raise ValueError("the executor needs WARDEN_POLICY_PUBKEY or WARDEN_KEYVAULT_URL to verify approved actions")
    return trust(keys)


@dataclass(frozen=True)
class Executor:
    runtime: ServiceRuntime
    coordinator: DrainCoordinator


@dataclass(frozen=True)
class ExecutorPorts:
    """Ports `build` makes from the settings unless given one; None builds the production one."""

    # The broker: from `bus_backend` (NATS or Service Bus).
    bus: Bus | None = None
    # The time-boxed write access a drain runs under: embedded NATS elevation or Azure PIM.
    elevation: Elevation | None = None
    # Where approved actions are read while elevated; given one, PIM needs no Service Bus source.
    approved_source: ApprovedActionSource | None = None
    # The targets actions act on: the sandbox or Azure (ARM, AKS).
    target_provider: TargetProvider | None = None
    clock: Clock | None = None
    # The actions the executor knows; default: the shared catalog.
    catalog: Catalog | None = None
    # Verifying keys by key id; default: `policy_pubkey` and the policy's Key Vault key.
    trusted_keys: Mapping[str, PublicKey] | None = None
    # The Key Vault SDK client's credential and client options (a transport, in tests).
    keyvault_credential: TokenCredential | None = None
    keyvault_options: dict[str, Any] | None = None


def create_app(
    settings: Settings | None = None, ports: ExecutorPorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    return build(settings, ports, **settings_overrides).runtime


def build(settings: Settings | None = None, ports: ExecutorPorts | None = None, **settings_overrides: Any) -> Executor:
    """The runtime and its drain coordinator. `settings_overrides` set Settings fields (any other
    name is a TypeError)."""
    reject_unknown_settings(Settings, settings_overrides)
    ports = ports or ExecutorPorts()
    if settings is None:
        s = Settings(**settings_overrides)
    elif settings_overrides:
        s = Settings(**(settings.model_dump() | settings_overrides))
    else:
        s = settings
    bus = ports.bus or bus_from_settings(SERVICE, s)
    catalog = ports.catalog or default_catalog()
    clock = ports.clock or SystemClock()
    trusted = ports.trusted_keys
    if trusted is None:
        trusted = policy_keys(s, ports.keyvault_credential, ports.keyvault_options)
    store = SqlStore(s.db_path, s.executor_store_url, holder=s.replica_id, lease_s=s.executor_lease_s)
    controls = SqlControls(store)
    sql_ledger = SqlLedger(store)
    runtime = ServiceRuntime(SERVICE, bus, http_host=s.http_host, http_port=s.http_port)
    closers: list[Any] = []
    target = ports.target_provider or _target(s, catalog, closers)
    elevation = ports.elevation or _elevation(
        s, clock, closers, ports.approved_source is not None or s.bus_backend == "servicebus"
    )

    def on_outcome(status: ReportStatus) -> None:
        runtime.counters.inc("actions", status=status.value)

    ledger = _cosmos_ledger(s, closers) if s.state_backend == "cosmos" else sql_ledger
    executor = ActionExecutor(
        trusted=trusted,
        catalog=catalog,
        ledger=ledger,
        controls=controls,
        target=target,
        publisher=bus,
        clock=clock,
        on_outcome=on_outcome,
    )
    coordinator = DrainCoordinator(
        elevation=elevation,
        ledger=ledger,
        source=ports.approved_source or _approved_source(s, closers),
        executor=executor,
        controls=controls,
        clock=clock,
        ttl_s=s.elevation_ttl_s,
        action_budget_s=action_budget_s(catalog),
        journal=SqlDrainJournal(store),
    )
    handlers = Handlers(coordinator, controls, runtime.counters.inc)
    # One doorbell at a time: a drain can outlast the ack wait of a prefetched batch.
    bus.subscribe(PENDING_TOPIC, handlers.on_doorbell, SubscriptionOptions(batch_size=1))
    bus.subscribe(CONTROL_TOPIC, handlers.on_control)

    async def recover() -> None:
        # Supervised: a failed recovery (elevation down, target unreachable) is retried. After the
        # start-up pass it keeps looking, once a lease, for actions a vanished replica left behind.
        await coordinator.recover()
        while True:
            await asyncio.sleep(s.executor_lease_s)
            await coordinator.recover()

    runtime.background += [recover, sql_ledger.keep_leases]
    runtime.on_start.append(store.open)
    runtime.on_stop.append(store.close)
    if isinstance(target, SandboxTargetProvider):
        runtime.on_stop.append(target.close)
    runtime.on_stop += closers
    return Executor(runtime, coordinator)


def _approved_source(s: Settings, closers: list[Any]) -> Any:
    if s.bus_backend != "servicebus":
        return NatsApprovedActionSource(s.nats_url, SERVICE)
    # Readable only while the PIM activation of Data Receiver on the executor's subscription lasts.
    from warden_bus.azure_servicebus.connection import connect
    from warden_bus.azure_servicebus.elevated_drain import ServiceBusApprovedActionSource

    secret = s.servicebus_connection.get_secret_value() if s.servicebus_connection else None
    conn = connect(
        namespace=s.servicebus_namespace, connection=secret, managed_identity_client_id=s.managed_identity_client_id
    )
    closers.append(conn.close)
    return ServiceBusApprovedActionSource(conn.client, SERVICE)


def _cosmos_ledger(s: Settings, closers: list[Any]) -> CosmosLedger:
    from warden_executor.adapters.cosmos_ledger import CosmosLedger, ledger_container  # Azure SDK: only here

    container, close = ledger_container(s.cosmos_endpoint, managed_identity_client_id=s.managed_identity_client_id)
    closers.append(close)
    return CosmosLedger(container)


def _azure(s: Settings, closers: list[Any]) -> Any:
    # Imported on demand: the Azure SDKs take seconds to import, which the embedded mode never pays.
    from warden_executor.adapters import azure_wiring

    adapters = azure_wiring.AzureAdapters(azure_wiring.azure_credential(s.managed_identity_client_id), [])
    closers.append(adapters.close)
    return azure_wiring, adapters


def _target(s: Settings, catalog: Any, closers: list[Any]) -> Any:
    if s.target_backend == "azure":
        if not s.azure_subscription_id:
            raise ValueError("target_backend=azure needs WARDEN_AZURE_SUBSCRIPTION_ID")
        wiring, adapters = _azure(s, closers)
        return wiring.azure_targets(adapters, s.azure_subscription_id, catalog, s.aks_kubeconfig)
    if not s.sandbox_url:
        raise ValueError("target_backend=sandbox needs WARDEN_SANDBOX_URL")
    return SandboxTargetProvider(s.sandbox_url)


def _elevation(s: Settings, clock: Any, closers: list[Any], own_source: bool) -> Any:
    if s.elevation_backend == "embedded":
        return NatsElevation(s.nats_url, s.nats_creds, SERVICE)
    if not (s.remediator_principal_id and s.pim_roles):
        raise ValueError("elevation_backend=azure-pim needs WARDEN_REMEDIATOR_PRINCIPAL_ID and WARDEN_PIM_ROLES")
    if not own_source:
        # A PIM grant carries no NATS credential: approved actions must come from the Azure bus.
        raise ValueError("elevation_backend=azure-pim needs an approved-action source on Azure Service Bus")
    wiring, adapters = _azure(s, closers)
    return wiring.pim_elevation(adapters, s.remediator_principal_id, s.pim_roles, clock)


async def drain_once(
    settings: Settings | None = None, ports: ExecutorPorts | None = None, **settings_overrides: Any
) -> DrainResult:
    """Job-style hosting (Container Apps jobs / KEDA): recover, elevate, drain, release, return."""
    executor = build(settings, ports, **settings_overrides)
    await executor.runtime.start()
    try:
        return await executor.coordinator.drain_until_empty()
    finally:
        await executor.runtime.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="warden-executor")
    parser.add_argument("--drain-once", action="store_true", help="drain the approved actions, then exit")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    if not args.drain_once:
        asyncio.run(create_app(settings).run())
        return
    result = asyncio.run(drain_once(settings))
    logging.getLogger("warden.executor").info(
        "drain-once: %d action(s), %s", result.handled, result.retry or result.detail
    )
    # 0 only when the queue was drained empty; anything left means the job must run again.
    sys.exit(0 if result.elevated and result.retry is None else 1)
