"""Microsoft Bot Connector: validating the tokens Teams sends us and calling back into conversations.

Inbound (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication):
the `Authorization: Bearer` JWT must be signed by a key from the OpenID metadata's JWKS (RS256),
carry issuer `https://api.botframework.com`, audience = our Microsoft App ID, be within its
validity (5 minutes of clock skew allowed) and name the activity's `serviceUrl` in its `serviceUrl`
claim; a key with `endorsements` must endorse the activity's channel.

Outbound: a client-credentials token for `https://api.botframework.com/.default`, then the REST API
at the conversation's `serviceUrl` (`/v3/conversations/{id}/activities`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt

from warden_console.domain.cards import ADAPTIVE_CARD

CLOCK_SKEW_S = 300
KEYS_TTL_S = 24 * 3600
BOT_SCOPE = "https://api.botframework.com/.default"


class BotAuthError(Exception):
    pass


def _timeout() -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=10)


@dataclass
class BotTokenValidator:
    app_id: str
    openid_metadata_url: str
    issuer: str = "https://api.botframework.com"
    _keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    _fetched_at: float = 0.0

    async def _refresh(self) -> None:
        async with aiohttp.ClientSession(timeout=_timeout()) as http:
            async with http.get(self.openid_metadata_url) as resp:
                metadata = await resp.json(content_type=None)
            async with http.get(metadata["jwks_uri"]) as resp:
                jwks = await resp.json(content_type=None)
        self._keys = {k["kid"]: k for k in jwks.get("keys", []) if "kid" in k}
        self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> dict[str, Any]:
        if kid not in self._keys or time.monotonic() - self._fetched_at > KEYS_TTL_S:
            try:
                await self._refresh()
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as err:
                raise BotAuthError(f"cannot fetch the Bot Connector signing keys: {err}") from None
        key = self._keys.get(kid)
        if key is None:
            raise BotAuthError("token signed by a key the Bot Connector does not publish")
        return key

    async def validate(self, authorization: str | None, activity: Mapping[str, Any]) -> dict[str, Any]:
        if not authorization or not authorization.startswith("Bearer "):
            raise BotAuthError("missing bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise BotAuthError(f"malformed token: {err}") from None
        key = await self._key(str(header.get("kid", "")))
        channel = activity.get("channelId")
        endorsements = key.get("endorsements")
        if endorsements is not None and channel not in endorsements:
            raise BotAuthError(f"signing key is not endorsed for channel {channel!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                jwt.PyJWK(key).key,
                algorithms=["RS256"],
                audience=self.app_id,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise BotAuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise BotAuthError("token audience is not this bot") from None
        except jwt.InvalidIssuerError:
            raise BotAuthError("token issuer is not the Bot Connector") from None
        except jwt.InvalidSignatureError:
            raise BotAuthError("token signature does not verify") from None
        except jwt.PyJWTError as err:
            raise BotAuthError(f"invalid token: {err}") from None
        if claims.get("serviceUrl") != activity.get("serviceUrl"):
            raise BotAuthError("token serviceUrl does not match the activity's")
        return claims


@dataclass
class BotConnectorClient:
    app_id: str
    app_password: str
    token_url: str
    _token: str = ""
    _expires: float = 0.0

    async def _access_token(self, http: aiohttp.ClientSession) -> str:
        if self._token and time.monotonic() < self._expires - 60:
            return self._token
        form = {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self.app_password,
            "scope": BOT_SCOPE,
        }
        async with http.post(self.token_url, data=form) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200 or "access_token" not in body:
                raise BotAuthError(f"token endpoint refused the bot credentials ({resp.status})")
        self._token, self._expires = str(body["access_token"]), time.monotonic() + int(body.get("expires_in", 3600))
        return self._token

    async def _send(self, method: str, url: str, activity: dict[str, Any]) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=_timeout()) as http:
            headers = {"Authorization": f"Bearer {await self._access_token(http)}"}
            async with http.request(method, url, json=activity, headers=headers) as resp:
                if resp.status >= 300:
                    raise BotAuthError(f"Bot Connector answered {resp.status}: {(await resp.text())[:200]}")
                answer: dict[str, Any] = await resp.json(content_type=None) if resp.content_length != 0 else {}
                return answer

    @staticmethod
    def _card_activity(card: dict[str, Any]) -> dict[str, Any]:
        return {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "content": card}]}

    async def post_card(self, service_url: str, conversation_id: str, card: dict[str, Any]) -> str:
        url = f"{service_url.rstrip('/')}/v3/conversations/{quote(conversation_id, safe='')}/activities"
        return str((await self._send("POST", url, self._card_activity(card))).get("id", ""))

    async def update_card(self, service_url: str, conversation_id: str, activity_id: str, card: dict[str, Any]) -> None:
        url = (
            f"{service_url.rstrip('/')}/v3/conversations/{quote(conversation_id, safe='')}"
            f"/activities/{quote(activity_id, safe='')}"
        )
        await self._send("PUT", url, self._card_activity(card))
