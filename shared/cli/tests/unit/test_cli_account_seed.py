"""The NATS account seed exists once (issue 16 item 4): in the elevation authority's key folder,
where the launcher also reads it to issue the standing identities; a copy an older version kept
in `nats-auth/` is moved there, the account unchanged."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import nkeys
from warden_bus.embedded_auth import AuthMaterial, ensure_auth_material
from warden_cli.key_folders import KeyFolders
from warden_cli.launcher import CHILDREN
from warden_cli.layout import Layout
from warden_console.bootstrap import ensure_embedded_users


def _place(layout: Layout) -> AuthMaterial:
    ensure_embedded_users(layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt")
    folders = KeyFolders(layout)
    folders.create_owned_keys()
    material = ensure_auth_material(layout.nats_auth, layout.account_seed)
    placed = folders.place_all(material, layout.secrets(), CHILDREN)
    assert Path(placed["elevation"].env["WARDEN_NATS_ACCOUNT_DIR"]) == layout.account_seed.parent
    return material


def _copies(root: Path, seed: bytes) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and seed in p.read_bytes())


def _issuer(creds: Path) -> str:
    jwt = creds.read_text().split("-----BEGIN NATS USER JWT-----\n")[1].split("\n")[0]
    body = jwt.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["iss"])


def test_the_account_seed_is_only_in_the_elevation_folder_and_signs_the_standing_users(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    material = _place(layout)
    seed = layout.account_seed.read_bytes().strip()
    assert _copies(layout.root, seed) == ["keys/elevation/account.seed"]
    assert stat.S_IMODE(layout.account_seed.stat().st_mode) == 0o600
    account = nkeys.from_seed(seed).public_key.decode()
    assert _issuer(material.creds("executor")) == account
    # A second start re-issues the users from the same seed and still keeps a single copy.
    _place(layout)
    assert _copies(layout.root, seed) == ["keys/elevation/account.seed"]
    assert _issuer(material.creds("executor")) == account


def test_a_seed_left_in_nats_auth_moves_to_the_elevation_folder(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    old = ensure_auth_material(layout.nats_auth)  # an older launcher: the seed beside the broker's files
    seed = old.account_seed_path.read_bytes().strip()
    resolver = old.resolver()
    _place(layout)
    assert _copies(layout.root, seed) == ["keys/elevation/account.seed"]
    assert AuthMaterial(layout.nats_auth).resolver() == resolver  # same operator and account

    # A folder where an older version had placed elevation's copy too: the nats-auth one goes.
    (layout.nats_auth / "account.seed").write_bytes(seed)
    _place(layout)
    assert _copies(layout.root, seed) == ["keys/elevation/account.seed"]
