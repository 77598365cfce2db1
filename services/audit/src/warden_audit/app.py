"""Composition root of the audit service: settings, store, recorder, subscriptions, runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from warden_bus.port import Bus, SubscriptionOptions
from warden_bus.runtime import Counters, ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts import topology as topo
from warden_security.keys import load_public_key
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER

from warden_audit.adapters.anchor_file import AnchorFile, default_anchor_path
from warden_audit.adapters.anchored_store import AnchoredStore
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.adapters.kpi_gauges import KpiGauges
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.adapters.sqlite_vault import SqliteVault
from warden_audit.adapters.token_reader import token_reader
from warden_audit.domain.checkpoint import Signer
from warden_audit.domain.recorder import AuditStore, Recorder
from warden_audit.handlers import AuditHandler, checkpoint_envelope
from warden_audit.http_api import query_routes
from warden_audit.reader import read_records

SERVICE = "audit"
log = logging.getLogger("warden.audit")
# Audit must not give up early: a dead letter of a message audit could not record is itself
# recorded later, but the original is what investigators want. Stay under the broker's limit (10).
SUBSCRIPTION = SubscriptionOptions(max_deliveries=9, batch_size=50)


class Settings(ServiceSettings):
    audit_dir: Path | None = None  # default: <data_dir>/audit
    segment_records: int = Field(default=10_000, ge=1)
    audit_signing_key: Path | None = None  # default: <data_dir>/keys/audit-signing.pem (created once)
    # Azure: sign checkpoints with this vault's EC P-256 key instead (ES256, the key stays in the vault).
    keyvault_url: str | None = None
    audit_signing_key_name: str = "audit-checkpoint-signing"
    checkpoint_every: int = Field(default=1000, ge=1)  # records between signed checkpoints
    checkpoint_interval_s: float = Field(default=5.0, gt=0)  # and at least this often while busy
    # Every checkpoint is also appended here, outside the audit folder (0600, O_APPEND); "" disables.
    anchor_file: Path | None = None  # default: <data_dir>/anchors/checkpoints.jsonl
    approver_issuer_pubkey: Path | None = None  # default: <data_dir>/keys/approver-issuer.pub.pem if present
    # Where the chain is stored: local segment files, or Azure append blobs (immutable container).
    audit_store: Literal["local", "azure_blob"] = "local"
    audit_blob_account_url: str | None = None  # https://<account>.blob.core.windows.net (managed identity)
    audit_blob_connection_string: SecretStr | None = None  # instead of the URL: Azurite / development
    audit_blob_container: str = "audit"
    audit_blob_max_blocks: int = Field(default=49_000, ge=1, le=50_000)

    @property
    def resolved_audit_dir(self) -> Path:
        return self.audit_dir if self.audit_dir is not None else self.data_dir / "audit"

    @property
    def resolved_signing_key(self) -> Path:
        return self.audit_signing_key or self.data_dir / "keys" / "audit-signing.pem"

    @property
    def resolved_anchor_file(self) -> Path | None:
        if self.anchor_file is not None and str(self.anchor_file) in {"", "."}:
            return None
        return self.anchor_file or default_anchor_path(self.data_dir)

    @property
    def resolved_issuer_pubkey(self) -> Path | None:
        path = self.approver_issuer_pubkey or self.data_dir / "keys" / "approver-issuer.pub.pem"
        return path if path.exists() else None


def _store(settings: Settings) -> AuditStore:
    if settings.audit_store == "local":
        return LocalSegmentStore(settings.resolved_audit_dir, settings.segment_records)
    # The Azure SDKs only for this backend: on the local default the audit never loads them.
    from azure.identity.aio import DefaultAzureCredential
    from azure.storage.blob.aio import ContainerClient

    from warden_audit.adapters.azure_blob_store import AzureAppendBlobStore

    if settings.audit_blob_connection_string is not None:
        container = ContainerClient.from_connection_string(
            settings.audit_blob_connection_string.get_secret_value(), settings.audit_blob_container
        )
    elif settings.audit_blob_account_url:
        container = ContainerClient(
            settings.audit_blob_account_url, settings.audit_blob_container, credential=DefaultAzureCredential()
        )
    else:
        raise ValueError("audit_store=azure_blob needs audit_blob_account_url or audit_blob_connection_string")
    return AzureAppendBlobStore(container, max_blocks=settings.audit_blob_max_blocks)


def checkpoint_signer(settings: Settings, credential: Any = None, options: dict[str, Any] | None = None) -> Signer:
    """The Key Vault key when a vault is configured, else the local Ed25519 key file."""
    if settings.keyvault_url:
        from warden_security.keyvault_signer import KeyVaultSigner, vault_credential  # Azure SDK: only here

        return KeyVaultSigner(
            settings.keyvault_url,
            settings.audit_signing_key_name,
            credential or vault_credential(settings.managed_identity_client_id),
            **(options or {}),
        )
    return Ed25519Signer.from_file(settings.resolved_signing_key)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AuditPorts:
    """Adapters `create_app` builds from the settings unless given one; None builds the production one."""

    # The broker: from `bus_backend`.
    bus: Bus | None = None
    # Where records are appended: local segment files or an Azure append blob.
    store: AuditStore | None = None
    # The time records and KPIs are stamped with (aware datetimes).
    clock: Callable[[], datetime] | None = None
    # Signs checkpoints: the Key Vault key when a vault is configured, else the local Ed25519 key.
    signer: Signer | None = None


def create_app(
    settings: Settings | None = None, ports: AuditPorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    """Build the service. `settings_overrides` set Settings fields (any other name is a TypeError)."""
    reject_unknown_settings(Settings, settings_overrides)
    ports = ports or AuditPorts()
    if settings is None:
        settings = Settings(**settings_overrides)
    elif settings_overrides:
        settings = Settings.model_validate({**settings.model_dump(), **settings_overrides})
    clock = ports.clock or _utcnow
    audit_dir = settings.resolved_audit_dir
    bus = ports.bus or bus_from_settings(SERVICE, settings)
    store = ports.store or _store(settings)
    anchor_path = settings.resolved_anchor_file
    anchored = AnchoredStore(store, AnchorFile(anchor_path)) if anchor_path is not None else None
    store = anchored or store
    signer = ports.signer or checkpoint_signer(settings)
    recorder = Recorder(store, clock, signer=signer, checkpoint_every=settings.checkpoint_every)
    vault = SqliteVault.for_log(audit_dir)
    issuer_key = settings.resolved_issuer_pubkey
    read_token = token_reader(
        load_public_key(issuer_key) if issuer_key else None, LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE
    )
    counters = Counters()
    handler = AuditHandler(recorder, bus, counters, vault=vault, read_token=read_token)
    for t in topo.consumed_by(SERVICE):
        bus.subscribe(t.name, handler.for_topic(t.name), SUBSCRIPTION)

    async def announce_checkpoints() -> None:
        for cp, head in anchored.take_announcements() if anchored is not None else []:
            try:
                await bus.publish(checkpoint_envelope(head, cp))
            except Exception:  # the anchor file and checkpoints.jsonl hold it; the next restart re-announces
                counters.inc("audit_announce_failures")
                log.exception("could not announce the checkpoint at seq %s", cp.seq)

    async def checkpoints() -> None:
        while True:
            await announce_checkpoints()
            await asyncio.sleep(settings.checkpoint_interval_s)
            await recorder.checkpoint()

    async def close_vault() -> None:
        vault.close()

    runtime = ServiceRuntime(
        name=SERVICE,
        bus=bus,
        http_host=settings.http_host,
        http_port=settings.http_port,
        counters=counters,
        routes=query_routes(recorder, audit_dir, vault),
        background=[checkpoints],
        on_start=[recorder.open],
        on_stop=[recorder.close, close_vault],
    )
    runtime.metrics.add([KpiGauges(lambda: read_records(audit_dir), clock)])
    return runtime


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
