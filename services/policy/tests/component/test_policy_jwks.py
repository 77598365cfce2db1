"""Approver tokens from an external issuer (Entra ID shape) verified through PyJWKClient against
a JWKS served by a local HTTP server: good tokens approve, every kind of bad token is rejected."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from warden_contracts.events import DecisionOutcome, PolicyDecided
from warden_policy.adapters.config_files import load_policy_config
from warden_policy.app import Settings, identity_verifier
from warden_policy.domain.config import Approvers
from warden_security.keys import load_or_create_private_key

TENANT_ISSUER = "https://login.microsoftonline.com/00000000-0000-0000-0000-00000000cafe/v2.0"
AUDIENCE = "api://warden-policy"
KID = "entra-key-1"


@pytest.fixture
def entra_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def jwks_url(entra_key: rsa.RSAPrivateKey) -> AsyncIterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(entra_key.public_key()))
    body = {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    async def keys(_: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/discovery/v2.0/keys", keys)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/discovery/v2.0/keys"
    await runner.cleanup()


@pytest.fixture
async def entra_world(fresh_world, tmp_path: Path, jwks_url: str) -> AsyncIterator[Any]:
    load_or_create_private_key(tmp_path / "issuer" / "approver.pem")
    settings = Settings(
        nats_creds=Path("unused.creds"),
        approver_issuer_pubkey=tmp_path / "issuer" / "approver.pub.pem",
        approver_jwks_url=jwks_url,
        approver_jwks_issuer=TENANT_ISSUER,
        approver_jwks_audience=AUDIENCE,
    )
    # The production verifier (local issuer + JWKS router), pointed at the local JWKS server.
    # Groups come from policy's directory for every issuer: the Entra subject is mapped to bob.
    directory = load_policy_config().approvers.model_dump()
    for user in directory["users"]:
        user["subjects"] = {"bob": ["bob-object-id"], "carol": ["carol-object-id"]}.get(user["name"], [])
    world, _ = fresh_world(tmp_path, identity_verifier(settings), Approvers.model_validate(directory))
    await world.store.open()
    yield world
    await world.store.close()


def entra_token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": TENANT_ISSUER,
        "aud": AUDIENCE,
        "sub": "bob-object-id",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "groups": ["sre-leads"],
        **overrides,
    }
    kid = claims.pop("kid", KID)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


Case = Callable[[rsa.RSAPrivateKey, dict[str, str]], str]
CASES: dict[str, tuple[Case, str]] = {
    "forged": (
        lambda key, b: entra_token(rsa.generate_private_key(public_exponent=65537, key_size=2048), **b),
        "identity token rejected: token signature does not verify",
    ),
    "unknown-key": (
        lambda key, b: entra_token(key, kid="rotated-away", **b),
        "identity token rejected: signing key not published by the issuer",
    ),
    "expired": (
        lambda key, b: entra_token(key, exp=int(time.time()) - 60, **b),
        "identity token rejected: token expired",
    ),
    "wrong-audience": (
        lambda key, b: entra_token(key, aud="api://something-else", **b),
        "identity token rejected: token audience is not this service",
    ),
    "untrusted-issuer": (
        lambda key, b: entra_token(key, iss="https://login.microsoftonline.com/evil/v2.0", **b),
        "identity token rejected: token issuer is not trusted",
    ),
    "self-approval": (lambda key, b: entra_token(key, sub="warden-planner", **b), "self-approval"),
    # Trusted issuer, valid token, but a subject policy's directory does not know: its groups count for nothing.
    "unmapped-subject": (lambda key, b: entra_token(key, sub="mallory-object-id", **b), "unknown approver"),
    # A viewer whose IdP token claims the leads group: the directory says viewer.
    "claimed-group": (
        lambda key, b: entra_token(key, sub="carol-object-id", groups=["sre-leads"], **b),
        "not authorised",
    ),
    # Another issuer's "bob" is not our bob: only an explicit subject mapping names a person.
    "name-collision": (lambda key, b: entra_token(key, sub="bob", **b), "unknown approver"),
}


def outcome(out) -> PolicyDecided:
    return next(e.payload(PolicyDecided) for e in out if e.type == "sre.policy.decided.v1")


async def test_policy_jwks_token_approves(entra_world, entra_key, make_plan, make_decision) -> None:
    request = await entra_world.request(make_plan(incident_class="elevated_error_rate", target="orders-api"))
    token = entra_token(entra_key, approval_id=request.approval_id, action_hash=request.action_hash)
    out = await entra_world.desk.decide(make_decision(request.approval_id, token))
    assert outcome(out).outcome is DecisionOutcome.APPROVED and outcome(out).approvers == ["bob-object-id"]


@pytest.mark.parametrize("case", sorted(CASES))
async def test_policy_jwks_bad_tokens_are_rejected(entra_world, entra_key, make_plan, make_decision, case) -> None:
    request = await entra_world.request(make_plan(incident_class="elevated_error_rate", target="orders-api"))
    build, reason = CASES[case]
    token = build(entra_key, {"approval_id": request.approval_id, "action_hash": request.action_hash})
    out = await entra_world.desk.decide(make_decision(request.approval_id, token))
    assert outcome(out).outcome is DecisionOutcome.REJECTED_APPROVAL
    assert outcome(out).reasons[0].startswith(reason), outcome(out).reasons
    assert [e.type for e in out] == ["sre.policy.decided.v1"]
