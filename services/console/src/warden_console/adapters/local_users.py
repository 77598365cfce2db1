"""Local sign-in for the embedded mode: a YAML file of users with argon2id password hashes.

File format::

    users:
      alice: {password_hash: "$argon2id$...", groups: [sre-oncall], role: approver}

Unknown users are checked against a dummy hash so response time does not reveal who exists.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from warden_console.domain.roles import Principal, Role

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class UsersFileError(ValueError):
    pass


@dataclass(frozen=True)
class LocalUser:
    name: str
    password_hash: str
    groups: tuple[str, ...]
    role: Role

    def principal(self, auth_method: str) -> Principal:
        return Principal(self.name, self.role, self.groups, auth_method=auth_method)


def _parse(raw: Any, source: Path) -> dict[str, LocalUser]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("users"), Mapping):
        raise UsersFileError(f"{source}: expected a mapping with a 'users' mapping")
    users: dict[str, LocalUser] = {}
    for name, entry in raw["users"].items():
        if not isinstance(entry, Mapping) or not str(entry.get("password_hash", "")).startswith("$argon2"):
            raise UsersFileError(f"{source}: user {name!r} needs an argon2 password_hash")
        try:
            role = Role.parse(str(entry.get("role", "viewer")))
        except ValueError as err:
            raise UsersFileError(f"{source}: user {name!r}: {err}") from None
        users[str(name)] = LocalUser(str(name), str(entry["password_hash"]), tuple(entry.get("groups") or ()), role)
    return users


class LocalDirectory:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._users = _parse(yaml.safe_load(path.read_text()), path)

    def authenticate(self, name: str, password: str) -> Principal | None:
        user = self._users.get(name)
        try:
            _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user.principal("password") if user else None

    def lookup(self, name: str) -> Principal | None:
        user = self._users.get(name)
        return user.principal("delegated") if user else None

    def names(self) -> list[str]:
        return sorted(self._users)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def write_users_file(path: Path, users: Sequence[tuple[str, str, Sequence[str], Role]]) -> None:
    """(name, password, groups, role) → an owner-only YAML users file holding only hashes."""
    body = {
        "users": {
            name: {"password_hash": hash_password(password), "groups": list(groups), "role": role.label}
            for name, password, groups, role in users
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(body, fh, sort_keys=True)
