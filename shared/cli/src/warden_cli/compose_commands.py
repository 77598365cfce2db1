"""`warden compose init|provision`: the one-off helpers docker-compose.yml needs.

`init` writes into the volumes what `warden up` creates in-process (keys, broker identities,
each service's key folder `/data/keys/<service>/` with its secrets as files, a NATS config that
listens on the container network) and, run as root, hands each volume to the one container user
that mounts it (warden_cli.compose_owners); `provision` creates streams and durable consumers as
the admin identity, once, and exits. Just-in-time elevation is its own service
(services/elevation), which never holds the admin identity.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
from warden_bus.embedded_auth import AuthMaterial, ensure_auth_material, server_config
from warden_bus.provision import provision_when_ready
from warden_console.api import ensure_embedded_users

from warden_cli.compose_owners import hand_over, ownership, with_state
from warden_cli.data_dir import existing_layout
from warden_cli.errors import UserError
from warden_cli.key_folders import KeyFolders, write_owner_only
from warden_cli.layout import Layout
from warden_cli.process_description import PROCESSES

compose_app = typer.Typer(help="Helpers for docker-compose.yml (the containerised embedded stack).")
DataDir = Annotated[Path, typer.Option("--data-dir", help="the operator's volume, the key folders mounted below it")]
StateRoot = Annotated[
    Path | None, typer.Option("--state-root", help="where each container's state volume is mounted, one folder each")
]
log = logging.getLogger("warden.compose")


def write_stack_config(root: Path, *, listen: str, port: int = 4222) -> Path:
    """Keys, secrets, broker identities, every service's key folder and the broker's folder
    `nats/` (`nats-server.conf`, the public operator and account JWTs it names, JetStream);
    returns the config path.

    Idempotent: keys and secrets are created once, user JWTs are re-issued every time and the
    key folders rewritten from them, as `warden up` does (docker-compose.yml points each service
    at its folder with the variables of warden_cli.process_description)."""
    layout = Layout(root)
    keys = KeyFolders(layout)
    keys.create_owned_keys()
    ensure_embedded_users(layout.keys / "console-users.yaml", layout.keys / "console-initial-passwords.txt")
    material = ensure_auth_material(layout.nats_auth, layout.account_seed)
    keys.place_all(material, layout.secrets(), tuple(PROCESSES))
    # The broker's container mounts its own folder only: copies of the public JWTs, no creds.
    broker = root / "nats"
    broker.mkdir(mode=0o700, exist_ok=True)
    for public in ("operator.jwt", "resolver.json"):
        shutil.copyfile(layout.nats_auth / public, broker / public)
    config = server_config(AuthMaterial(broker), port=port, store_dir=broker / "jetstream")
    # Inside the compose network other containers connect by service name, not loopback.
    config = config.replace(f"listen: 127.0.0.1:{port}", f"listen: {listen}:{port}")
    path = broker / "nats-server.conf"
    write_owner_only(path, config.encode())
    return path


@compose_app.command("init")
def init(data_dir: DataDir, state_root: StateRoot = None, port: int = 4222) -> None:
    """Write keys, broker identities and the NATS config into DATA_DIR, hand every folder to its
    container's user (as root; otherwise print the commands to run as root), then exit."""
    root = data_dir.resolve()
    # All interfaces of the NATS container: the compose network is its only attached network and
    # the compose file publishes the port on the host's loopback only.
    path = write_stack_config(root, listen="0.0.0.0", port=port)  # noqa: S104
    typer.echo(f"wrote {path}")
    states = state_root.resolve() if state_root else None
    for container in with_state() if states else ():
        (states / container).mkdir(mode=0o700, parents=True, exist_ok=True)
    settle_owners(root, states, as_root=os.geteuid() == 0)


def settle_owners(root: Path, state_root: Path | None, *, as_root: bool) -> list[str]:
    """Each folder to its one container user; without root, the commands (returned, and printed)
    that someone with root must run before the containers can read their folders."""
    plan = ownership(root, state_root)
    if as_root:
        hand_over(plan)
        typer.echo(f"handed {len(plan)} folders and files to their containers' users")
        return []
    commands = [line for owned in plan for line in owned.commands()]
    typer.echo(
        "not root: the containers run as their own users and cannot read these folders yet; as root run:\n  "
        + "\n  ".join(commands),
        err=True,
    )
    return commands


@compose_app.command("provision")
def provision(data_dir: DataDir, nats_url: Annotated[str, typer.Option("--nats-url")] = "nats://nats:4222") -> None:
    """Create streams and durable consumers from the topology as admin, then exit."""
    layout = existing_layout(data_dir)
    # Read, not re-issued: the running services hold the identities `init` wrote.
    admin = AuthMaterial(layout.nats_auth).creds("admin")
    if not admin.is_file():
        # Else the wait for the broker below would retry a missing file for its whole minute.
        raise UserError(f"no admin identity at {admin}: run `warden compose init --data-dir {data_dir}` first")
    asyncio.run(provision_when_ready(nats_url, admin))
    typer.echo("streams and consumers provisioned")
