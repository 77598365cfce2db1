"""NATS decentralised-auth JWTs (operator, account, user), signed with nkeys.

The wire format is NATS's own (JWT with `alg: ed25519-nkey`, claims under `nats`); the Ed25519
signing is done by the `nkeys` library, this module only lays out the claims.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import nkeys

_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _encode(claims: dict[str, Any], signer: nkeys.KeyPair) -> str:
    claims = {**claims, "iat": int(time.time()), "iss": signer.public_key.decode()}
    claims["jti"] = (
        base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode().rstrip("=")
    )
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(signer.sign(signing_input.encode()))}"


def decode_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def new_keypair(prefix: str) -> nkeys.KeyPair:
    """prefix: 'operator', 'account' or 'user'."""
    import nacl.utils  # nkeys depends on PyNaCl

    kind = {
        "operator": nkeys.PREFIX_BYTE_OPERATOR,
        "account": nkeys.PREFIX_BYTE_ACCOUNT,
        "user": nkeys.PREFIX_BYTE_USER,
    }[prefix]
    seed = nkeys.encode_seed(nacl.utils.random(32), kind)
    return nkeys.from_seed(seed)


def seed_of(kp: nkeys.KeyPair) -> str:
    return kp.seed.decode()


def operator_jwt(operator: nkeys.KeyPair, name: str, system_account: str) -> str:
    return _encode(
        {
            "sub": operator.public_key.decode(),
            "name": name,
            "nats": {"type": "operator", "version": 2, "system_account": system_account},
        },
        operator,
    )


def account_jwt(operator: nkeys.KeyPair, account: nkeys.KeyPair, name: str, *, jetstream: bool) -> str:
    limits: dict[str, Any] = {
        "subs": -1,
        "data": -1,
        "payload": -1,
        "imports": -1,
        "exports": -1,
        "wildcards": True,
        "conn": -1,
        "leaf": -1,
    }
    if jetstream:
        limits |= {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
    return _encode(
        {"sub": account.public_key.decode(), "name": name, "nats": {"limits": limits, "type": "account", "version": 2}},
        operator,
    )


@dataclass(frozen=True)
class Permissions:
    pub_allow: list[str] = field(default_factory=list)
    sub_allow: list[str] = field(default_factory=list)
    allow_responses: bool = False


def user_jwt(
    account: nkeys.KeyPair, user_public_key: str, name: str, perms: Permissions, *, expires_at: float | None = None
) -> str:
    # An empty allow list in a NATS JWT means "no restriction"; ours must mean "nothing".
    nats: dict[str, Any] = {
        "pub": {"allow": perms.pub_allow} if perms.pub_allow else {"deny": [">"]},
        "sub": {"allow": perms.sub_allow} if perms.sub_allow else {"deny": [">"]},
        "subs": -1,
        "data": -1,
        "payload": -1,
        "type": "user",
        "version": 2,
    }
    if perms.allow_responses:
        nats["resp"] = {"max": 1, "ttl": 0}
    claims: dict[str, Any] = {"sub": user_public_key, "name": name, "nats": nats}
    if expires_at is not None:
        claims["exp"] = int(expires_at)
    return _encode(claims, account)


def creds_file_text(jwt: str, seed: str) -> str:
    """The `.creds` layout nats clients parse."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n"
    )
