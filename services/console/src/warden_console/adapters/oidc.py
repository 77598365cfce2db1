"""OpenID Connect sign-in (authorisation code + PKCE) against Entra ID or any compliant provider.

Discovery document → authorization endpoint → code exchange at the token endpoint → the ID token
verified against the provider's JWKS: signature (RS256/ES256/EdDSA), issuer, audience (our client
id), expiry and the nonce bound to this sign-in. Roles come from the `roles` (Entra app roles) and
`groups` claims through a configured map; a person no entry maps gets no access.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from warden_console.domain.roles import Principal, role_from

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
METADATA_TTL_S = 3600


class OidcError(Exception):
    pass


# What an unreachable or misbehaving provider raises: a refused sign-in, not a server error.
_PROVIDER_FAILURES = (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    role_map: Mapping[str, str]
    scope: str = "openid profile email"
    name_claim: str = "preferred_username"


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    nonce: str
    code_verifier: str


@dataclass
class OidcClient:
    config: OidcConfig
    _metadata: dict[str, Any] = field(default_factory=dict)
    _jwks: dict[str, Any] = field(default_factory=dict)
    _fetched_at: float = 0.0

    async def _get_json(self, http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
        async with http.get(url) as resp:
            if resp.status != 200:
                raise OidcError(f"{url} answered {resp.status}")
            body: dict[str, Any] = await resp.json(content_type=None)
            return body

    async def _discover(self, http: aiohttp.ClientSession, *, force: bool = False) -> dict[str, Any]:
        if force or not self._metadata or time.monotonic() - self._fetched_at > METADATA_TTL_S:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            metadata = await self._get_json(http, url)
            if metadata.get("issuer") != self.config.issuer:
                raise OidcError("discovery document names a different issuer")
            self._metadata, self._jwks = metadata, await self._get_json(http, metadata["jwks_uri"])
            self._fetched_at = time.monotonic()
        return self._metadata

    async def begin(self) -> tuple[str, PendingSignIn]:
        pending = PendingSignIn(generate_token(32), generate_token(32), generate_token(64))
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                metadata = await self._discover(http)
        except _PROVIDER_FAILURES as err:
            raise OidcError(f"identity provider discovery failed: {err!r}") from None
        url = add_params_to_uri(
            metadata["authorization_endpoint"],
            [
                ("response_type", "code"),
                ("client_id", self.config.client_id),
                ("redirect_uri", self.config.redirect_uri),
                ("scope", self.config.scope),
                ("state", pending.state),
                ("nonce", pending.nonce),
                ("code_challenge", create_s256_code_challenge(pending.code_verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        return url, pending

    async def complete(self, pending: PendingSignIn, *, state: str, code: str) -> Principal:
        if not state or state != pending.state:
            raise OidcError("state does not match this sign-in")
        try:
            return await self._exchange(pending, code)
        except _PROVIDER_FAILURES as err:
            raise OidcError(f"identity provider failed during sign-in: {err!r}") from None

    async def _exchange(self, pending: PendingSignIn, code: str) -> Principal:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            metadata = await self._discover(http)
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.config.redirect_uri,
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                "code_verifier": pending.code_verifier,
            }
            async with http.post(metadata["token_endpoint"], data=form) as resp:
                answer = await resp.json(content_type=None)
                if resp.status != 200 or "id_token" not in answer:
                    raise OidcError(f"token endpoint refused the code ({resp.status})")
            claims = await self._verify(http, str(answer["id_token"]), pending.nonce)
        return self._principal(claims)

    async def _verify(self, http: aiohttp.ClientSession, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.PyJWTError as err:
            raise OidcError(f"malformed ID token: {err}") from None
        if kid not in {k.get("kid") for k in self._jwks.get("keys", [])}:
            await self._discover(http, force=True)  # the provider rotated its keys
        key = next((k for k in self._jwks.get("keys", []) if k.get("kid") == kid), None)
        if key is None:
            raise OidcError("ID token signed by an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                jwt.PyJWK(key).key,
                algorithms=ALGORITHMS,
                audience=self.config.client_id,
                issuer=self.config.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "nonce"]},
            )
        except jwt.PyJWTError as err:
            raise OidcError(f"ID token rejected: {err}") from None
        if claims.get("nonce") != nonce:
            raise OidcError("ID token nonce does not match this sign-in")
        return claims

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        granted = [*map(str, claims.get("roles") or []), *map(str, claims.get("groups") or [])]
        role = role_from(granted, self.config.role_map, default=None)
        name = str(claims.get(self.config.name_claim) or claims.get("email") or claims["sub"])
        if role is None:
            raise OidcError(f"{name} has no Warden role (ask for viewer, approver or administrator)")
        groups = tuple(str(g) for g in claims.get("groups") or [])
        return Principal(
            name, role, groups, auth_method="oidc", display_name=str(claims.get("name", "")), external_id=str(
                claims.get("oid") or claims["sub"]
            )
        )
