"""One description of every Warden process: what runs it, the settings it reads and where each
value comes from, and its health endpoint (docs/adr/0008-one-process-description.md).

`warden up` (and `warden cluster`, which reuses its environment) builds each child's environment
from this table at start; `warden generate` (`make generate`, warden_cli.environment_files) writes
docker-compose.yml's environments and the Bicep's container environments from it, and
tests/contract/test_process_description_drift.py fails when the committed files differ from what
it would write. A variable is added here, once.

A setting's `local` source says how `warden up` and compose fill it (None: neither sets it);
`azure` is its value on Azure, a Bicep expression in main.bicep's scope (None: the Bicep does not
set it). Secrets are never values here: a secret is a file in the service's own key folder
(warden_cli.key_folders) named by a `..._FILE` or path variable, in compose as in `warden up`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# In compose every service listens on this port inside its own container (published on loopback).
COMPOSE_PORT = 8080
COMPOSE_DATA = Path("/data")


class Kind(StrEnum):
    VALUE = "value"
    PORT = "port"
    URL = "url"
    FILE = "file"  # a path to material that is not secret (a public key, a folder of state)
    SECRET_FILE = "secret file"  # a path to secret material in the service's key folder


@dataclass(frozen=True)
class Embedded:
    """What `warden up` knows when it builds one child's environment."""

    service: str
    root: Path
    nats_url: str
    ports: Mapping[str, int]
    options: object  # warden_cli.launcher.StackOptions (read by attribute: no import cycle)
    key_folder: Path


class Source(ABC):
    """Where a setting's value comes from, under `warden up` and under compose (None: not set)."""

    @abstractmethod
    def embedded(self, where: Embedded) -> str | None: ...

    @abstractmethod
    def compose(self, service: str) -> str | None: ...


@dataclass(frozen=True)
class NatsUrl(Source):
    def embedded(self, where: Embedded) -> str:
        return where.nats_url

    def compose(self, service: str) -> str:
        return "nats://nats:4222"


@dataclass(frozen=True)
class DataDir(Source):
    under: str = ""

    def embedded(self, where: Embedded) -> str:
        return str(where.root / self.under if self.under else where.root)

    def compose(self, service: str) -> str:
        return str(COMPOSE_DATA / self.under if self.under else COMPOSE_DATA)


@dataclass(frozen=True)
class OwnPort(Source):
    def embedded(self, where: Embedded) -> str:
        return str(where.ports[where.service])

    def compose(self, service: str) -> str:
        return str(COMPOSE_PORT)


@dataclass(frozen=True)
class ServiceUrl(Source):
    """Another service's HTTP listener (`path` appended): loopback under `warden up`, its
    container name in compose."""

    service: str
    path: str = ""

    def embedded(self, where: Embedded) -> str:
        return f"http://127.0.0.1:{where.ports[self.service]}{self.path}"

    def compose(self, service: str) -> str:
        return f"http://{self.service}:{COMPOSE_PORT}{self.path}"


@dataclass(frozen=True)
class StackOption(Source):
    """A `warden up` option (StackOptions attribute); compose leaves the service's default.
    Unset (None, or falsy unless `always`) leaves the variable out."""

    attribute: str
    always: bool = False

    def embedded(self, where: Embedded) -> str | None:
        value = getattr(where.options, self.attribute)
        if value is None or (not value and not self.always):
            return None
        return str(value)

    def compose(self, service: str) -> None:
        return None


@dataclass(frozen=True)
class ComposeOnly(Source):
    """Set in compose only (listen on the container network, the host's OTLP endpoint)."""

    value: str

    def embedded(self, where: Embedded) -> None:
        return None

    def compose(self, service: str) -> str:
        return self.value


@dataclass(frozen=True)
class KeyFile(Source):
    """A file in the service's own key folder (`.`: the folder itself)."""

    name: str

    def embedded(self, where: Embedded) -> str:
        return str(where.key_folder if self.name == "." else where.key_folder / self.name)

    def compose(self, service: str) -> str:
        folder = COMPOSE_DATA / "keys" / service
        return str(folder if self.name == "." else folder / self.name)


@dataclass(frozen=True)
class Bicep:
    """A value on Azure: a Bicep expression in deploy/bicep/main.bicep's scope (its params, vars and
    module outputs), with `<service>` standing for the service's name (e.g. its identity's index)."""

    expression: str

    def render(self, service: str) -> str:
        return self.expression.replace("<service>", service)


def literal(value: str) -> Bicep:
    """A Bicep string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("${", "\\${")
    return Bicep(f"'{escaped}'")


@dataclass(frozen=True)
class Setting:
    name: str
    kind: Kind
    local: Source | None = None  # None: neither `warden up` nor compose sets it
    azure: Bicep | None = None  # its value on Azure (None: the Bicep does not set it)


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    module: str  # run as `python -m <module>`
    settings: tuple[Setting, ...]
    health: str = "/healthz"
    on_azure: bool = False  # a Container App or Job in deploy/bicep

    def embedded_env(self, where: Embedded) -> dict[str, str]:
        rendered = {s.name: s.local.embedded(where) if s.local else None for s in self.settings}
        return {name: value for name, value in rendered.items() if value is not None}

    def compose_env(self) -> dict[str, str]:
        rendered = {s.name: s.local.compose(self.name) if s.local else None for s in self.settings}
        return {name: value for name, value in rendered.items() if value is not None}

    def azure_env(self) -> dict[str, str]:
        """Name -> Bicep expression, for the services deployed to Azure (else empty)."""
        if not self.on_azure:
            return {}
        return {s.name: s.azure.render(self.name) for s in self.settings if s.azure is not None}

    def azure_names(self) -> frozenset[str]:
        return frozenset(self.azure_env())

    def key_folder_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.settings if isinstance(s.local, KeyFile))


V, P, U, F, S = Kind.VALUE, Kind.PORT, Kind.URL, Kind.FILE, Kind.SECRET_FILE


def _common() -> tuple[Setting, ...]:
    """What every service reads (warden_bus.settings.ServiceSettings)."""
    return (
        Setting("WARDEN_NATS_URL", U, NatsUrl()),
        Setting("WARDEN_DATA_DIR", F, DataDir(), azure=literal("/tmp/warden")),  # noqa: S108 (the replica's scratch)
        Setting("WARDEN_HTTP_HOST", V, ComposeOnly("0.0.0.0"), azure=literal("0.0.0.0")),  # noqa: S104 (the container's network)
        Setting("WARDEN_HTTP_PORT", P, OwnPort(), azure=literal("8080")),  # containerapps.bicep's targetPort
        Setting("WARDEN_LOG_LEVEL", V, StackOption("log_level", always=True)),
        Setting("WARDEN_TRACE_FILE", F, StackOption("trace_file")),
        Setting("WARDEN_OTLP_ENDPOINT", U, ComposeOnly("${WARDEN_OTLP_ENDPOINT:-}")),
    )


def _azure() -> tuple[Setting, ...]:
    """What the Bicep gives every Azure-hosted service: Service Bus, Cosmos DB, Key Vault and its
    own managed identity (the SDKs' DefaultAzureCredential reads AZURE_CLIENT_ID)."""
    client_id = Bicep("identities.outputs.clientIds[idx.<service>]")
    return (
        Setting("WARDEN_BUS_BACKEND", V, azure=literal("servicebus")),
        Setting("WARDEN_SERVICEBUS_NAMESPACE", V, azure=Bicep("servicebus.outputs.fullyQualifiedNamespace")),
        Setting("WARDEN_STATE_BACKEND", V, azure=literal("cosmos")),
        Setting("WARDEN_COSMOS_ENDPOINT", U, azure=Bicep("cosmos.outputs.endpoint")),
        Setting("WARDEN_KEYVAULT_URL", U, azure=Bicep("keyvault.outputs.vaultUri")),
        Setting("WARDEN_MANAGED_IDENTITY_CLIENT_ID", V, azure=client_id),
        Setting("AZURE_CLIENT_ID", V, azure=client_id),
    )


def _creds(identity: str) -> Setting:
    # On Azure the bus is Service Bus: /dev/null satisfies the settings model, which requires it.
    return Setting("WARDEN_NATS_CREDS", S, KeyFile(f"{identity}.creds"), azure=literal("/dev/null"))


PROCESSES: dict[str, ServiceProcess] = {
    p.name: p
    for p in (
        ServiceProcess(
            "sandbox",
            "warden_sandbox",
            (
                *_common(),
                Setting("WARDEN_SANDBOX_HOST", V, ComposeOnly("0.0.0.0")),  # noqa: S104
                Setting("WARDEN_SANDBOX_PORT", P, OwnPort()),
                Setting("WARDEN_SANDBOX_TICK_S", V, StackOption("tick_s", always=True)),
                Setting("WARDEN_ALERT_WEBHOOK_URL", U, ServiceUrl("triage", "/webhooks/azure-monitor")),
                Setting("WARDEN_SANDBOX_ADMIN_SECRET_FILE", S, KeyFile("admin-secret")),
                Setting("WARDEN_ALERT_WEBHOOK_TOKEN_FILE", S, KeyFile("alert-webhook-token")),
                Setting("WARDEN_SANDBOX_TOKEN_PUBKEY", F, KeyFile("elevation-authority.pub.pem")),
            ),
        ),
        ServiceProcess(
            "triage",
            "warden_triage",
            (
                *_common(),
                *_azure(),
                _creds("triage"),
                Setting("WARDEN_WEBHOOK_TOKEN_FILE", S, KeyFile("webhook-token")),
            ),
            on_azure=True,
        ),
        ServiceProcess(
            "planner",
            "warden_planner",
            (*_common(), *_azure(), _creds("planner"), Setting("WARDEN_SANDBOX_URL", U, ServiceUrl("sandbox"))),
            on_azure=True,
        ),
        ServiceProcess(
            "policy",
            "warden_policy",
            (
                *_common(),
                *_azure(),
                _creds("policy"),
                Setting("WARDEN_APPROVAL_TIMEOUT_S", V, StackOption("approval_timeout_s")),
                Setting("WARDEN_SIGNING_KEY", S, KeyFile("policy-signing.pem")),
                Setting("WARDEN_APPROVER_ISSUER_PUBKEY", F, KeyFile("approver-issuer.pub.pem")),
            ),
            on_azure=True,
        ),
        ServiceProcess(
            "executor",
            "warden_executor",
            (
                *_common(),
                *_azure(),
                _creds("executor"),
                Setting("WARDEN_SANDBOX_URL", U, ServiceUrl("sandbox")),
                Setting("WARDEN_POLICY_PUBKEY", F, KeyFile("policy-signing.pub.pem")),
                # On Azure the executor is a job woken by the doorbell, elevating through PIM.
                Setting("WARDEN_ELEVATION_BACKEND", V, azure=literal("azure-pim")),
                Setting(
                    "WARDEN_REMEDIATOR_PRINCIPAL_ID", V, azure=Bicep("identities.outputs.principalIds[idx.executor]")
                ),
                Setting("WARDEN_PIM_ROLES", V, azure=Bicep("string(pimRoles)")),
                Setting("WARDEN_TARGET_BACKEND", V, azure=literal("azure")),
                Setting("WARDEN_AZURE_SUBSCRIPTION_ID", V, azure=Bicep("subscription().subscriptionId")),
            ),
            on_azure=True,
        ),
        ServiceProcess(
            "audit",
            "warden_audit",
            (
                *_common(),
                *_azure(),
                _creds("audit"),
                Setting("WARDEN_AUDIT_DIR", F, DataDir("audit")),
                Setting("WARDEN_AUDIT_SIGNING_KEY", S, KeyFile("audit-signing.pem")),
                Setting("WARDEN_APPROVER_ISSUER_PUBKEY", F, KeyFile("approver-issuer.pub.pem")),
                Setting("WARDEN_AUDIT_STORE", V, azure=literal("azure_blob")),
                Setting("WARDEN_AUDIT_BLOB_ACCOUNT_URL", U, azure=Bicep("auditStorage.outputs.blobEndpoint")),
                Setting("WARDEN_AUDIT_BLOB_CONTAINER", V, azure=Bicep("auditStorage.outputs.containerName")),
            ),
            on_azure=True,
        ),
        # The approver console reads requests and publishes decisions as `approver`; `operator`
        # only for admins.
        ServiceProcess(
            "console",
            "warden_console",
            (
                *_common(),
                _creds("approver"),
                Setting("WARDEN_AUDIT_URL", U, ServiceUrl("audit")),
                Setting("WARDEN_OPERATOR_CREDS", S, KeyFile("operator.creds")),
                Setting("WARDEN_APPROVER_ISSUER_KEY", S, KeyFile("approver-issuer.pem")),
                Setting("WARDEN_USERS_FILE", S, KeyFile("console-users.yaml")),
            ),
        ),
        ServiceProcess(
            "scheduler",
            "warden_scheduler",
            (
                *_common(),
                *_azure(),
                _creds("scheduler"),
                Setting("WARDEN_SCHEDULER_TASKS_FILE", F, StackOption("scheduler_tasks_file")),
            ),
            on_azure=True,
        ),
        # The elevation authority: the NATS account seed (its folder) signs time-boxed users.
        ServiceProcess(
            "elevation",
            "warden_elevation",
            (
                *_common(),
                _creds("elevation"),
                Setting("WARDEN_ELEVATION_KEY", S, KeyFile("elevation-authority.pem")),
                Setting("WARDEN_POLICY_PUBKEY", F, KeyFile("policy-signing.pub.pem")),
                Setting("WARDEN_NATS_ACCOUNT_DIR", S, KeyFile(".")),
            ),
        ),
    )
}


def process(service: str) -> ServiceProcess:
    return PROCESSES[service]
