"""An HTTPS double of the Key Vault keys REST API (get key, sign) on 127.0.0.1, for tests of every
package that signs or verifies with Key Vault keys (kept in src so they can share it).

It holds a real EC P-256 private key and answers with the documented wire format, including the
401 bearer challenge the SDK's challenge-auth policy starts with; the signer under test only ever
sees the public JWK and signatures, as with a real vault.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.x509.oid import NameOID

TOKEN = "kv-test-token"
VERSION = "0123456789abcdef0123456789abcdef"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StaticCredential:
    """Stands in for Entra ID (managed identity): hands out a fixed token and records the scopes."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


@dataclass
class VaultDouble:
    url: str
    ca_file: Path
    keys: dict[str, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey] = field(default_factory=dict)
    sign_requests: list[dict[str, Any]] = field(default_factory=list)
    credential: StaticCredential = field(default_factory=StaticCredential)
    corrupt_signatures: bool = False
    forbid_sign: bool = False

    def kid(self, name: str) -> str:
        return f"{self.url}/keys/{name}/{VERSION}"

    def add_key(self, name: str) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[name] = key
        return key

    def client_options(self) -> dict[str, Any]:
        # The double is not on *.vault.azure.net, so the SDK's documented check that the challenge's
        # resource matches the vault domain is switched off; TLS and the bearer challenge stay on.
        return {"connection_verify": str(self.ca_file), "verify_challenge_resource": False}


def _tls(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "vault.pem", tmp / "vault.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def _jwk(vault: VaultDouble, name: str) -> dict[str, Any]:
    public = vault.keys[name].public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        nums = public.public_numbers()
        return {
            "kid": vault.kid(name),
            "kty": "EC",
            "crv": "P-256",
            "key_ops": ["sign", "verify"],
            "x": b64url(nums.x.to_bytes(32, "big")),
            "y": b64url(nums.y.to_bytes(32, "big")),
        }
    rsa_nums = public.public_numbers()
    return {
        "kid": vault.kid(name),
        "kty": "RSA",
        "key_ops": ["sign", "verify"],
        "n": b64url(rsa_nums.n.to_bytes(256, "big")),
        "e": b64url(rsa_nums.e.to_bytes(3, "big")),
    }


def _routes(vault: VaultDouble) -> web.Application:
    @web.middleware
    async def bearer(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = f'Bearer authorization="https://login.microsoftonline.com/tenant", resource="{vault.url}"'
            return web.json_response(
                {"error": {"code": "Unauthorized"}}, status=401, headers={"WWW-Authenticate": challenge}
            )
        return await handler(request)

    async def get_key(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in vault.keys:
            return web.json_response({"error": {"code": "KeyNotFound", "message": name}}, status=404)
        now = int(time.time())
        return web.json_response(
            {"key": _jwk(vault, name), "attributes": {"enabled": True, "created": now, "updated": now}}
        )

    async def sign(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.json()
        vault.sign_requests.append(body)
        if vault.forbid_sign:
            return web.json_response({"error": {"code": "Forbidden", "message": "no sign permission"}}, status=403)
        key = vault.keys[name]
        if not isinstance(key, ec.EllipticCurvePrivateKey) or body.get("alg") != "ES256":
            refusal = {"error": {"code": "BadParameter", "message": "ES256 on EC keys only"}}
            return web.json_response(refusal, status=400)
        der = key.sign(unb64url(body["value"]), ec.ECDSA(Prehashed(hashes.SHA256())))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if vault.corrupt_signatures:
            raw = bytes([raw[0] ^ 1]) + raw[1:]
        return web.json_response({"kid": vault.kid(name), "value": b64url(raw)})

    app = web.Application(middlewares=[bearer])
    app.add_routes(
        [
            web.get("/keys/{name}", get_key),
            web.get("/keys/{name}/", get_key),
            web.get("/keys/{name}/{version}", get_key),
            web.post("/keys/{name}/{version}/sign", sign),
        ]
    )
    return app


@contextmanager
def serve_vault(tmp: Path) -> Iterator[VaultDouble]:
    """Run the double on a free port of 127.0.0.1 (TLS with a throw-away CA written under `tmp`).

    It serves from its own thread and event loop: the services call the synchronous SDK from
    their event loop, exactly as they call a real vault, and must not wait on a server in that loop.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    context, ca_file = _tls(tmp)
    double = VaultDouble(url="", ca_file=ca_file)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="keyvault-double", daemon=True)
    thread.start()

    async def start() -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(_routes(double), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    double.url = f"https://127.0.0.1:{port}"
    try:
        yield double
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
        loop.close()
