"""Operator-mode security material for the embedded NATS server, generated from the topology.

Layout under `root`: operator.jwt, resolver.json, one `<identity>.creds` per standing identity
plus `admin.creds` for the bootstrap; account.seed (the account key that signs user JWTs) too,
unless the caller keeps it elsewhere (`warden up` keeps its only copy in the elevation
authority's key folder and signs the standing users from there).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nkeys
from warden_contracts import topology as topo

from warden_bus import nats_jwt
from warden_bus.permissions import admin_permissions, standing_permissions

ADMIN = "admin"
SEED = "account.seed"


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


@dataclass(frozen=True)
class AuthMaterial:
    root: Path
    # Where the account seed lives; None: `root/account.seed`.
    account_seed: Path | None = None

    def creds(self, identity: str) -> Path:
        return self.root / f"{identity}.creds"

    @property
    def account_seed_path(self) -> Path:
        return self.account_seed or self.root / SEED

    def account_keypair(self) -> nkeys.KeyPair:
        return nkeys.from_seed(self.account_seed_path.read_bytes().strip())

    def resolver(self) -> dict[str, Any]:
        return dict(json.loads((self.root / "resolver.json").read_text()))

    def operator_jwt_path(self) -> Path:
        return self.root / "operator.jwt"


def ensure_auth_material(root: Path, account_seed: Path | None = None) -> AuthMaterial:
    """Create keys once; re-issue standing user JWTs every time so permission changes apply.

    With `account_seed` the seed is kept there and only there: a seed an older version left in
    `root` is moved there (or, when it is already there, removed), so it exists once."""
    material = AuthMaterial(root, account_seed)
    root.mkdir(parents=True, exist_ok=True)
    if account_seed is not None:
        _adopt_seed(root / SEED, account_seed)
    if not material.account_seed_path.exists():
        operator = nats_jwt.new_keypair("operator")
        system = nats_jwt.new_keypair("account")
        account = nats_jwt.new_keypair("account")
        sys_pub = system.public_key.decode()
        (root / "operator.jwt").write_text(nats_jwt.operator_jwt(operator, "warden", sys_pub))
        resolver = {
            sys_pub: nats_jwt.account_jwt(operator, system, "SYS", jetstream=False),
            account.public_key.decode(): nats_jwt.account_jwt(operator, account, "WARDEN", jetstream=True),
        }
        (root / "resolver.json").write_text(json.dumps({"system": sys_pub, "accounts": resolver}))
        material.account_seed_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_secret(material.account_seed_path, nats_jwt.seed_of(account))
    account = material.account_keypair()
    for identity in (*topo.IDENTITIES, ADMIN):
        perms = admin_permissions() if identity == ADMIN else standing_permissions(identity)
        user = nats_jwt.new_keypair("user")
        jwt = nats_jwt.user_jwt(account, user.public_key.decode(), identity, perms)
        _write_secret(material.creds(identity), nats_jwt.creds_file_text(jwt, nats_jwt.seed_of(user)))
    return material


def _adopt_seed(legacy: Path, seed: Path) -> None:
    if legacy == seed or not legacy.exists():
        return
    if seed.exists():
        legacy.unlink()
        return
    seed.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.replace(legacy, seed)


def server_config(material: AuthMaterial, *, port: int, store_dir: Path) -> str:
    resolver = material.resolver()
    preload = ",\n".join(f'  {pub}: "{jwt}"' for pub, jwt in resolver["accounts"].items())
    return f"""
listen: 127.0.0.1:{port}
http: 0
operator: "{material.operator_jwt_path()}"
system_account: {resolver["system"]}
resolver: MEMORY
resolver_preload: {{
{preload}
}}
max_payload: 1MB
jetstream {{
  store_dir: "{store_dir}"
  sync_interval: always
}}
"""
