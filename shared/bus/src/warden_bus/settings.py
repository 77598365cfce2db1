"""Settings every bus service reads; each composition root extends them with its own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from warden_security.secret_files import FileBackedSettings


def nats_servers(url: str) -> list[str]:
    """`nats_url` may list several servers, comma-separated (the nodes of a cluster): a client
    given all of them reaches the cluster even when the node it knew first is down."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("no NATS server URL given")
    return servers


class ServiceSettings(FileBackedSettings):  # any setting may come from WARDEN_X_FILE
    # The launcher hands every service the same WARDEN_* environment; a service ignores the
    # variables meant for its neighbours.
    model_config = SettingsConfigDict(env_prefix="WARDEN_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"  # or several, comma-separated (`nats_servers`)
    nats_creds: Path
    data_dir: Path = Path(".warden")
    # 0.0.0.0 inside a container, where health probes come from outside its network namespace.
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    # Azure: `servicebus` talks to `servicebus_namespace` as the managed identity
    # `managed_identity_client_id` (or whatever DefaultAzureCredential finds); a connection string
    # is accepted only for the local emulator, never for a real namespace.
    bus_backend: Literal["nats", "servicebus"] = "nats"
    servicebus_namespace: str | None = None
    servicebus_connection: SecretStr | None = None
    managed_identity_client_id: str | None = None
    # Service state: SQLite under data_dir, or the service's container in a Cosmos DB account
    # (reached as the managed identity; the account has keys disabled).
    state_backend: Literal["sqlite", "cosmos"] = "sqlite"
    cosmos_endpoint: str | None = None


def reject_unknown_settings(settings_cls: type[BaseSettings], names: Iterable[str]) -> None:
    """`create_app`'s keyword overrides name Settings fields only (components go in its ports
    dataclass): a misspelt or misplaced name is a TypeError, not a setting silently ignored."""
    unknown = sorted(set(names) - set(settings_cls.model_fields))
    if unknown:
        raise TypeError(f"create_app got unknown overrides: {unknown}")
