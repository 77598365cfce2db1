"""Local doubles of the chat services we cannot run here, speaking their documented wire formats:
the Bot Connector (OpenID metadata, JWKS, token endpoint, conversation REST API) and the Slack Web API.
Test support only; production code never imports this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

BOT_ISSUER = "https://api.botframework.com"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class ChatDoubles:
    """One aiohttp app on 127.0.0.1 serving both doubles; records what the console sent."""

    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    kid: str = "bot-key-1"
    posted: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    slack_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    base: str = ""
    _runner: web.AppRunner | None = None

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/v1/.well-known/openidconfiguration"

    @property
    def token_url(self) -> str:
        return f"{self.base}/botframework.com/oauth2/v2.0/token"

    @property
    def service_url(self) -> str:
        return f"{self.base}/teams/"

    @property
    def slack_api_url(self) -> str:
        return f"{self.base}/slack/api/"

    async def start(self) -> ChatDoubles:
        app = web.Application()
        app.add_routes(
            [
                web.get("/v1/.well-known/openidconfiguration", self._metadata),
                web.get("/v1/.well-known/keys", self._jwks),
                web.post("/botframework.com/oauth2/v2.0/token", self._token),
                web.post("/teams/v3/conversations/{cid}/activities", self._post_activity),
                web.put("/teams/v3/conversations/{cid}/activities/{aid}", self._put_activity),
                web.post("/slack/api/{method}", self._slack),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _metadata(self, _: web.Request) -> web.Response:
        return web.json_response({"issuer": BOT_ISSUER, "jwks_uri": f"{self.base}/v1/.well-known/keys"})

    async def _jwks(self, _: web.Request) -> web.Response:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return web.json_response({"keys": [public | {"kid": self.kid, "use": "sig", "endorsements": ["msteams"]}]})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials" or not form.get("client_secret"):
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response({"access_token": "bot-access-token", "expires_in": 3600, "token_type": "Bearer"})

    async def _post_activity(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer bot-access-token":
            return web.json_response({"error": "unauthorized"}, status=401)
        self.posted.append({"conversation": request.match_info["cid"], **await request.json()})
        return web.json_response({"id": f"activity-{len(self.posted)}"}, status=201)

    async def _put_activity(self, request: web.Request) -> web.Response:
        self.updated.append({"activity": request.match_info["aid"], **await request.json()})
        return web.json_response({"id": request.match_info["aid"]})

    async def _slack(self, request: web.Request) -> web.Response:
        body = dict(await request.post()) if request.content_type != "application/json" else await request.json()
        self.slack_calls.append((request.match_info["method"], dict(body)))
        return web.json_response({"ok": True, "ts": f"{time.time():.6f}", "channel": body.get("channel")})

    def bot_token(self, app_id: str, service_url: str, **changes: Any) -> str:
        """A Bot Connector token as Teams sends it; `changes` override claims (or `key=` the signer)."""
        key = changes.pop("key", self.key)
        now = int(time.time())
        claims = {
            "iss": BOT_ISSUER,
            "aud": app_id,
            "exp": now + 3600,
            "nbf": now - 5,
            "iat": now - 5,
            "serviceUrl": service_url,
            **changes,
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def card_invoke(
    service_url: str, approval_id: str, verb: str, aad_object_id: str, *, reason: str = ""
) -> dict[str, Any]:
    """An `adaptiveCard/action` invoke activity as Teams sends it for an Action.Execute press."""
    return {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": str(uuid.uuid4()),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "replyToId": "activity-1",
        "from": {"id": "29:1abc", "aadObjectId": aad_object_id, "name": "Alice"},
        "conversation": {"id": "19:ops@thread.tacv2"},
        "recipient": {"id": "28:warden-bot"},
        "value": {
            "action": {
                "type": "Action.Execute",
                "verb": verb,
                "data": {"approval_id": approval_id, "reason": reason},
            },
            "trigger": "manual",
        },
    }


def slack_request(
    secret: str, approval_id: str, verb: str, user_id: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A signed block_actions interactivity request (v0 signature) and its headers."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "alice"},
        "channel": {"id": "C0OPS"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0OPS"},
        "message": {"ts": "1700000000.000100"},
        "actions": [{"action_id": verb, "value": approval_id, "type": "button", "block_id": f"decide:{approval_id}"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


TEAMS_APP_ID = "warden-bot-app"
SLACK_SECRET = "slack-signing-secret"


def chat_settings(doubles: ChatDoubles) -> dict[str, Any]:
    """Console settings that point Teams and Slack at the doubles (alice and carol mapped)."""
    return {
        "teams_app_id": TEAMS_APP_ID,
        "teams_app_password": "bot-password",
        "teams_openid_metadata_url": doubles.metadata_url,
        "teams_token_url": doubles.token_url,
        "teams_service_url": doubles.service_url,
        "teams_conversation_id": "19:ops@thread.tacv2",
        "teams_users": {"aad-alice": "alice", "aad-carol": "carol"},
        "slack_signing_secret": SLACK_SECRET,
        "slack_bot_token": "xoxb-test",
        "slack_channel": "C0OPS",
        "slack_api_url": doubles.slack_api_url,
        "slack_users": {"U_ALICE": "alice", "U_CAROL": "carol"},
    }
