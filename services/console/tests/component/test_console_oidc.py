"""OIDC sign-in (code flow + PKCE) against a local provider double: discovery, JWKS, token endpoint;
the ID token's signature, issuer, audience and nonce decide, and roles come from the role map."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from warden_bus.embedded_server import free_port
from warden_testkit.bus import EmbeddedBroker
from warden_testkit.console import start_console
from warden_testkit.oidc import CLIENT_ID, CLIENT_SECRET, OidcProviderDouble


@pytest.fixture
async def idp() -> AsyncIterator[OidcProviderDouble]:
    double = await OidcProviderDouble().start()
    yield double
    await double.stop()


@pytest.fixture
async def oidc_console(broker: EmbeddedBroker, tmp_path, idp: OidcProviderDouble):
    port = free_port()
    console = await start_console(
        broker,
        tmp_path / "oidc",
        http_port=port,
        public_url=f"http://127.0.0.1:{port}",
        oidc_issuer=idp.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_role_map={"Warden.Approver": "approver", "Warden.Admin": "administrator"},
    )
    yield console
    await console.runtime.stop()


async def _sign_in(console) -> tuple[int, str, str]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(console.url + "/login/oidc", allow_redirects=False) as start:
            location = start.headers["Location"]
        async with http.get(location) as resp:  # the provider redirects back to /auth/callback
            return resp.status, await resp.text(), location


async def test_sign_in_through_the_provider(oidc_console, idp: OidcProviderDouble) -> None:
    status, page, location = await _sign_in(oidc_console)
    assert location.startswith(idp.base + "/authorize?")
    assert "code_challenge_method=S256" in location and "nonce=" in location and "state=" in location
    assert status == 200 and "Pending approvals" in page and "alice · <em>approver</em>" in page


async def test_bad_id_tokens_do_not_sign_in(oidc_console, idp: OidcProviderDouble) -> None:
    for tamper, why in [
        ({"aud": "another-app"}, "Audience"),
        ({"iss": "https://login.evil.example/"}, "issuer"),
        ({"nonce": "replayed-nonce"}, "nonce"),
        ({"exp": 1_000}, "expired"),
        ({"roles": [], "groups": []}, "no Warden role"),
    ]:
        idp.tamper = tamper
        status, page, _ = await _sign_in(oidc_console)
        assert status == 401 and "Sign-in refused" in page and why.lower() in page.lower(), (tamper, page)


async def test_a_callback_without_a_started_sign_in_is_refused(oidc_console) -> None:
    async with aiohttp.ClientSession() as http, http.get(
        oidc_console.url + "/auth/callback?code=stolen&state=guess"
    ) as resp:
        assert resp.status == 400 and "Sign-in expired" in await resp.text()


async def test_an_unreachable_provider_is_a_clear_502_not_a_server_error(
    oidc_console, idp: OidcProviderDouble
) -> None:
    await idp.stop()  # nothing listens on the issuer's port any more
    async with aiohttp.ClientSession() as http, http.get(
        oidc_console.url + "/login/oidc", allow_redirects=False
    ) as resp:
        assert resp.status == 502 and "identity provider unavailable" in await resp.text()
