"""Composition root of the approver console: the only place that reads settings and builds adapters.

One process serves the web console, the Teams messaging endpoint and the Slack interactivity
endpoint; it reads approval requests through the `approver` identity's durable subscription and
publishes only `sre.approval.decided.v1` with it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from warden_bus.port import Bus
from warden_bus.runtime import Counters, ServiceRuntime, bus_from_settings, configure_logging, observed
from warden_bus.settings import ServiceSettings, reject_unknown_settings
from warden_contracts.envelope import utcnow
from warden_security.keys import load_or_create_private_key
from warden_security.tokens import LOCAL_APPROVER_ISSUER, TokenIssuer

from warden_console.adapters.audit_log_files import AuditLogFiles
from warden_console.adapters.audit_query_api import AuditQueryApi
from warden_console.adapters.bot_connector import BotConnectorClient, BotTokenValidator
from warden_console.adapters.local_issuer import LocalIdentityIssuer
from warden_console.adapters.local_users import LocalDirectory
from warden_console.adapters.oidc import OidcClient, OidcConfig
from warden_console.adapters.operator_publisher import OperatorPublisher
from warden_console.adapters.sqlite_inbox import SqliteInbox
from warden_console.desk import ApproverDesk
from warden_console.ports import ConsolePorts, Directory
from warden_console.web import admin, auth, incident_list, pages, reports
from warden_console.web.render import ENV_KEY, environment
from warden_console.web.sessions import SECURE_KEY, SESSION_KEY, SessionStore, guard
from warden_console.web.slack import SlackChannel
from warden_console.web.teams import TeamsChannel

SERVICE = "console"
BUS_IDENTITY = "approver"
REQUESTED_TOPIC = "sre.approval.requested.v1"


class Settings(ServiceSettings):
    # YAML users with argon2 hashes (embedded mode); default <data_dir>/keys/console-users.yaml if present.
    users_file: Path | None = None
    # Private key of the local approver-identity issuer policy trusts; default <data_dir>/keys/approver-issuer.pem.
    approver_issuer_key: Path | None = None
    # The audit service's query API (docs/audit.md); without it the local log under audit_dir is read.
    audit_url: str = ""
    audit_dir: Path | None = None  # default <data_dir>/audit
    # Credentials of the `operator` identity, used only when an administrator changes a control.
    operator_creds: Path | None = None
    # Where people reach the console; https makes every cookie Secure.
    public_url: str = ""
    session_ttl_s: int = Field(default=8 * 3600, gt=0)
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    # Entra app role or group → viewer | approver | administrator (JSON in WARDEN_OIDC_ROLE_MAP).
    oidc_role_map: dict[str, str] = Field(default_factory=dict)
    teams_app_id: str = ""
    teams_app_password: str = ""
    teams_openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    teams_token_url: str = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    teams_issuer: str = "https://api.botframework.com"
    teams_service_url: str = ""
    teams_conversation_id: str = ""
    teams_users: dict[str, str] = Field(default_factory=dict)  # aadObjectId → approver name
    slack_signing_secret: str = ""
    slack_bot_token: str = ""
    slack_channel: str = ""
    slack_api_url: str = "https://slack.com/api/"
    slack_users: dict[str, str] = Field(default_factory=dict)  # Slack user id → approver name

    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


@dataclass
class ConsoleRuntime(ServiceRuntime):
    """The shared runtime (health, metrics, bus lifecycle) with the console's middleware and pages."""

    web_app: web.Application = field(default_factory=web.Application)

    def http_app(self) -> web.Application:
        app = self.web_app
        # Outermost, so requests the console's guard refuses are timed as well.
        app.middlewares.insert(0, observed(self.metrics))
        app.add_routes([web.get("/healthz", self._health), web.get("/metrics", self._metrics), *self.routes])
        return app


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    reject_unknown_settings(Settings, overrides)
    if settings is None:
        return Settings(**overrides)
    return Settings.model_validate({**settings.model_dump(), **overrides})


def _directory(s: Settings) -> LocalDirectory | None:
    path = s.users_file or s.keys_dir() / "console-users.yaml"
    return LocalDirectory(path) if path.exists() else None


def _oidc(s: Settings) -> OidcClient | None:
    if not s.oidc_issuer:
        return None
    redirect = s.public_url.rstrip("/") + "/auth/callback"
    return OidcClient(OidcConfig(s.oidc_issuer, s.oidc_client_id, s.oidc_client_secret, redirect, s.oidc_role_map))


def _chat_routes(s: Settings, desk: ApproverDesk, directory: Directory | None) -> list[web.RouteDef]:
    """Teams and Slack, each only when configured; both post new requests and take decisions."""
    routes: list[web.RouteDef] = []
    if s.teams_app_id:
        teams = TeamsChannel(
            desk,
            directory,
            BotTokenValidator(s.teams_app_id, s.teams_openid_metadata_url, s.teams_issuer),
            BotConnectorClient(s.teams_app_id, s.teams_app_password, s.teams_token_url),
            s.teams_users,
            s.teams_service_url,
            s.teams_conversation_id,
        )
        desk.notifiers.append(teams.notify)
        routes += [web.post("/api/teams/messages", teams.messages)]
    if s.slack_signing_secret:
        slack = SlackChannel(
            desk,
            directory,
            SignatureVerifier(s.slack_signing_secret),
            AsyncWebClient(token=s.slack_bot_token or None, base_url=s.slack_api_url),
            s.slack_users,
            s.slack_channel,
        )
        desk.notifiers.append(slack.notify)
        routes += [web.post("/api/slack/actions", slack.actions)]
    return routes


def create_app(
    settings: Settings | None = None, ports: ConsolePorts | None = None, **settings_overrides: Any
) -> ConsoleRuntime:
    """Build the console. `settings_overrides` set Settings fields (any other name is a
    TypeError); `ports` replace components."""
    s = _settings(settings, settings_overrides)
    ports = ports or ConsolePorts()
    bus: Bus = ports.bus or bus_from_settings(BUS_IDENTITY, s)
    inbox = ports.inbox or SqliteInbox(s.data_dir / "state" / "console.db")
    issuer = ports.issuer or LocalIdentityIssuer(
        TokenIssuer(
            load_or_create_private_key(s.approver_issuer_key or s.keys_dir() / "approver-issuer.pem"),
            LOCAL_APPROVER_ISSUER,
        )
    )
    operator = ports.control_publisher or (
        OperatorPublisher(s.nats_url, s.operator_creds) if s.operator_creds else None
    )
    audit = ports.audit or (
        AuditQueryApi(s.audit_url) if s.audit_url else AuditLogFiles(s.audit_dir or s.data_dir / "audit")
    )
    counters = Counters()
    desk = ApproverDesk(
        bus=bus,
        inbox=inbox,
        audit=audit,
        issuer=issuer,
        clock=ports.clock or utcnow,
        control_publisher=operator,
        counters=counters,
    )
    bus.subscribe(REQUESTED_TOPIC, desk.on_request)

    web_app = web.Application(middlewares=[guard], client_max_size=256 * 1024)
    web_app[SESSION_KEY] = SessionStore(s.session_ttl_s)
    web_app[SECURE_KEY] = s.public_url.startswith("https://")
    web_app[ENV_KEY] = environment()
    web_app[pages.DESK_KEY] = desk
    web_app[pages.AUDIT_KEY] = audit
    directory: Directory | None = ports.directory or _directory(s)
    web_app[auth.DIRECTORY_KEY] = directory
    web_app[auth.OIDC_KEY] = _oidc(s)
    web_app.router.add_static("/static", Path(str(resources.files("warden_console") / "static")))
    runtime = ConsoleRuntime(
        name=SERVICE,
        bus=bus,
        http_host=s.http_host,
        http_port=s.http_port,
        counters=counters,
        routes=[
            *auth.routes(),
            *pages.routes(),
            *incident_list.routes(),
            *reports.routes(),
            *admin.routes(),
            *_chat_routes(s, desk, directory),
        ],
        web_app=web_app,
    )
    if hasattr(inbox, "open"):
        runtime.on_start.append(inbox.open)
        runtime.on_stop.append(inbox.close)
    return runtime


def main() -> None:
    settings = Settings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(create_app(settings).run())
