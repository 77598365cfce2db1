"""Configuration alone moves the executor to Azure: Service Bus for the bus and the approved-action
source, Cosmos DB for the idempotency ledger (private attributes are read only to prove which
adapters were chosen; nothing connects at build time)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_bus.azure_servicebus.bus import ServiceBusBus
from warden_bus.azure_servicebus.elevated_drain import ServiceBusApprovedActionSource
from warden_executor.adapters.cosmos_ledger import CosmosLedger
from warden_executor.app import Settings, build
from warden_security.keys import public_pem

EMULATOR = "Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true"


def test_settings_select_service_bus_and_cosmos(tmp_path: Path) -> None:
    pubkey = tmp_path / "policy.pub.pem"
    pubkey.write_bytes(public_pem(Ed25519PrivateKey.generate().public_key()))
    settings = Settings(
        nats_creds=tmp_path / "unused.creds",
        data_dir=tmp_path,
        policy_pubkey=pubkey,
        sandbox_url="http://127.0.0.1:1",
        bus_backend="servicebus",
        servicebus_connection=EMULATOR,
        state_backend="cosmos",
        cosmos_endpoint="https://warden.documents.azure.com:443/",
    )
    executor = build(settings)
    assert isinstance(executor.runtime.bus, ServiceBusBus)
    assert isinstance(executor.coordinator._source, ServiceBusApprovedActionSource)
    assert isinstance(executor.coordinator._executor._ledger, CosmosLedger)
