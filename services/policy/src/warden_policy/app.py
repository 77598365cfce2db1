"""Composition root of the policy gate: the only place that reads settings."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field
from warden_bus.port import Bus
from warden_bus.runtime import ServiceRuntime, bus_from_settings, configure_logging
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts.catalog import Catalog, default_catalog
from warden_contracts.envelope import utcnow
from warden_security.action_signing import LocalSigner, Signer
from warden_security.jwks import IssuerRouter, JwksTokenVerifier, Verifier
from warden_security.keys import load_or_create_private_key, load_public_key
from warden_security.tokens import APPROVAL_AUDIENCE, LOCAL_APPROVER_ISSUER, TokenVerifier

from warden_policy.adapters.cedar_policy import CedarPolicy
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.adapters.stores import open_store
from warden_policy.approval_desk import ApprovalDesk
from warden_policy.domain.approver_rules import ApproverRules
from warden_policy.domain.evaluation import PolicyEvaluator
from warden_policy.domain.rules import GateRules
from warden_policy.envelopes import Release
from warden_policy.handlers import PolicyHandlers
from warden_policy.live_state import LiveState
from warden_policy.operations import Operations
from warden_policy.plan_gate import PlanGate
from warden_policy.ports import Clock, PolicyPorts, StateStore
from warden_policy.relay import Relay

SERVICE = "policy"


class Settings(ServiceSettings):
    # Ed25519 private key (PEM) that signs approved actions; created with a .pub.pem beside it if absent.
    # Default: <data_dir>/keys/policy-signing.pem
    signing_key: Path | None = None
    # Azure: sign with this vault's EC P-256 key instead (ES256; the private key never leaves the vault).
    keyvault_url: str | None = None
    policy_signing_key_name: str = "policy-action-signing"
    # Public key (PEM) of the approver identity issuer (the local issuer in the embedded mode).
    approver_issuer_pubkey: Path
    # An external approver identity issuer (Entra ID): its JWKS URL, issuer and the audience tokens carry.
    approver_jwks_url: str | None = None
    approver_jwks_issuer: str | None = None
    approver_jwks_audience: str = APPROVAL_AUDIENCE
    # Directory holding response_plans.yaml and approvers.yaml; default: the files shipped in the package.
    policy_config_dir: Path | None = None
    # Directory holding the Cedar policy (*.cedar + schema.cedarschema); default: the shipped policy.
    policy_dir: Path | None = None
    # postgresql://... for scale-out (several replicas); default: SQLite under <data_dir>/state/.
    policy_store_url: str | None = None
    # Overrides the agent default approval deadline of response_plans.yaml.
    approval_timeout_s: int | None = Field(default=None, gt=0)
    action_ttl_s: int = Field(default=600, gt=0)
    deadline_interval_s: float = Field(default=0.5, gt=0)
    # Names this replica in the outbox rows its flush claims: unique among replicas sharing the
    # store. Default: host name and HTTP port (distinct per replica on one host or per container).
    policy_replica_id: str | None = None

    @property
    def replica_id(self) -> str:
        return self.policy_replica_id or f"{socket.gethostname()}:{self.http_port}"


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    reject_unknown_settings(Settings, overrides)
    if settings is None:
        return Settings(**overrides)
    return Settings.model_validate({**settings.model_dump(), **overrides})


def identity_verifier(s: Settings) -> IssuerRouter:
    verifiers: dict[str, Verifier] = {
        LOCAL_APPROVER_ISSUER: TokenVerifier(
            load_public_key(s.approver_issuer_pubkey), LOCAL_APPROVER_ISSUER, APPROVAL_AUDIENCE
        )
    }
    if s.approver_jwks_url:
        if not s.approver_jwks_issuer:
            raise ValueError("WARDEN_APPROVER_JWKS_ISSUER is required with WARDEN_APPROVER_JWKS_URL")
        verifiers[s.approver_jwks_issuer] = JwksTokenVerifier(
            s.approver_jwks_url, s.approver_jwks_issuer, s.approver_jwks_audience
        )
    return IssuerRouter(verifiers)


def action_signer(s: Settings, credential: Any = None, options: dict[str, Any] | None = None) -> Signer:
    """The Key Vault key when a vault is configured, else the local Ed25519 key file."""
    if s.keyvault_url:
        from warden_security.keyvault_signer import KeyVaultSigner, vault_credential  # Azure SDK: only here

        return KeyVaultSigner(
            s.keyvault_url,
            s.policy_signing_key_name,
            credential or vault_credential(s.managed_identity_client_id),
            **(options or {}),
        )
    return LocalSigner(load_or_create_private_key(s.signing_key or s.data_dir / "keys" / "policy-signing.pem"))


def _state_store(s: Settings) -> StateStore:
    if s.state_backend == "cosmos":
        from warden_policy.adapters.cosmos_store import CosmosStateStore  # Azure SDK: only here

        return CosmosStateStore.from_endpoint(s.cosmos_endpoint, s.managed_identity_client_id)
    return open_store(s.policy_store_url, s.data_dir)


def create_app(
    settings: Settings | None = None, ports: PolicyPorts | None = None, **settings_overrides: Any
) -> ServiceRuntime:
    """Build the gate. `settings_overrides` set Settings fields (any other name is a TypeError);
    `ports` replace components."""
    s = _settings(settings, settings_overrides)
    ports = ports or PolicyPorts()
    config = load_policy_config(s.policy_config_dir)
    plans = config.plans.with_timeout(s.approval_timeout_s)
    catalog: Catalog = ports.catalog or default_catalog()
    policy: PolicyEvaluator = ports.policy or CedarPolicy(s.policy_dir)
    clock: Clock = ports.clock or utcnow
    bus: Bus = ports.bus or bus_from_settings(SERVICE, s)
    store: StateStore = ports.store or _state_store(s)
    signer = action_signer(s, ports.keyvault_credential, ports.keyvault_options)
    release = Release(signer, timedelta(seconds=s.action_ttl_s))
    rules = GateRules(catalog, plans, policy)
    approver_rules = ApproverRules(policy)
    live = LiveState(store, plans.agent.access_level)
    relay = Relay(bus, store, clock, claimer=s.replica_id)
    runtime = ServiceRuntime(name=SERVICE, bus=bus, http_host=s.http_host, http_port=s.http_port)
    handlers = PolicyHandlers(
        gate=PlanGate(
            store=store,
            rules=rules,
            approver_rules=approver_rules,
            catalog=catalog,
            release=release,
            clock=clock,
            live=live,
            inventory=config.inventory,
        ),
        desk=ApprovalDesk(
            store=store,
            verifier=identity_verifier(s),
            approvers=config.approvers,
            rules=rules,
            approver_rules=approver_rules,
            release=release,
            clock=clock,
            live=live,
            directory_issuers=(LOCAL_APPROVER_ISSUER,),
        ),
        ops=Operations(store=store, clock=clock, plans=plans),
        relay=relay,
        counters=runtime.counters,
    )
    handlers.register(bus)

    async def deadline_loop() -> None:
        while True:
            await handlers.tick()
            await asyncio.sleep(s.deadline_interval_s)

    runtime.on_start.append(store.open)
    runtime.on_stop.append(store.close)
    runtime.background.append(deadline_loop)
    return runtime


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
