"""Who owns what under docker-compose.yml: every container runs as its own unprivileged uid:gid,
and `warden compose init` (the one step that runs as root) hands each volume to its one user.

The volumes, as init sees them (`--data-dir /data --state-root /state`):

- `/data` (volume `operator`): the operator's material, `keys/secrets.json`, the approver
  directory and its initial passwords, `nats-auth/` (operator JWT, account JWTs, admin and every
  standing identity's creds). Owned by `provision`, the only other container that mounts it.
- `/data/keys/<service>` (volume `<service>-keys`): that service's key folder, owned by the
  service; the service mounts it read-only and no other container mounts it.
- `/data/nats` (volume `nats`): the broker's config, its public JWTs and JetStream, owned by `nats`.
- `/state/<service>` (volume `<service>-state`): the service's `/data` (its SQLite state; audit's
  log and anchors), owned by the service and mounted by it alone.

docker-compose.yml's `user:` lines must be these numbers (tests/contract/test_compose_isolation.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warden_cli.process_description import PROCESSES

PROVISION, NATS, AZURITE, OTEL = "provision", "nats", "azurite", "otel-collector"

# One uid per container; its primary group has the same number and nobody else in it.
COMPOSE_UIDS: dict[str, int] = {
    NATS: 10101,
    PROVISION: 10102,
    OTEL: 10103,
    AZURITE: 10104,
    "sandbox": 10110,
    "triage": 10111,
    "planner": 10112,
    "policy": 10113,
    "executor": 10114,
    "audit": 10115,
    "console": 10116,
    "scheduler": 10117,
    "elevation": 10118,
}
OWNER_ONLY_DIR = 0o700


def user_of(container: str) -> str:
    """The `user:` value of a container in docker-compose.yml."""
    uid = COMPOSE_UIDS[container]
    return f"{uid}:{uid}"


def with_key_folders() -> tuple[str, ...]:
    """The services the process description points at files of their own key folder."""
    return tuple(name for name, process in PROCESSES.items() if process.key_folder_names())


def with_state() -> tuple[str, ...]:
    """The containers given a state volume of their own: every Warden service, and Azurite."""
    return (*PROCESSES, AZURITE)


@dataclass(frozen=True)
class Owned:
    path: Path
    owner: str
    recursive: bool = True

    @property
    def uid(self) -> int:
        return COMPOSE_UIDS[self.owner]

    def commands(self) -> list[str]:
        chown = "chown -R" if self.recursive else "chown"
        return [f"{chown} {self.uid}:{self.uid} {self.path}", f"chmod 700 {self.path}"]


def ownership(root: Path, state_root: Path | None) -> list[Owned]:
    """What init hands to whom, in order: the operator's folders first without descending (the
    key folders are mounted below them), then each key folder, the broker's and the state folders."""
    keys = root / "keys"
    plan = [Owned(root, PROVISION, recursive=False), Owned(keys, PROVISION, recursive=False)]
    plan += [Owned(path, PROVISION) for path in sorted(keys.iterdir()) if not path.is_dir()] if keys.is_dir() else []
    plan.append(Owned(root / "nats-auth", PROVISION))
    plan += [Owned(keys / service, service) for service in with_key_folders()]
    plan.append(Owned(root / "nats", NATS))
    if state_root is not None:
        plan += [Owned(state_root / container, container) for container in with_state()]
    return plan


def hand_over(plan: list[Owned]) -> None:
    """chown (and 0700 on the folder itself) as planned; needs root (CHOWN, FOWNER)."""
    for owned in plan:
        for path in _walk(owned.path) if owned.recursive else iter([owned.path]):
            os.chown(path, owned.uid, owned.uid, follow_symlinks=False)
        if owned.path.is_dir():
            owned.path.chmod(OWNER_ONLY_DIR)


def _walk(top: Path) -> Iterator[Path]:
    yield top
    if top.is_dir() and not top.is_symlink():
        for folder, dirs, files in os.walk(top):
            for name in (*dirs, *files):
                yield Path(folder) / name
