"""The local people who can sign in to the console in the embedded mode.

The directory users policy knows (alice: on-call approver, bob: lead and administrator, carol:
viewer, dave: the second lead M-of-N tiers need) get random passwords once; only argon2 hashes are
kept in the users file, and the initial passwords go to an owner-only file the person running
`warden up` can read. With an estate (`warden.yaml`), the users file follows the estate's approvers
on every start (`follow_directory`): policy reads its approvers from the same file, and a person
removed there must not keep signing in to the console.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from warden_console.adapters.local_users import hash_password, write_users_file
from warden_console.domain.roles import Role

EMBEDDED_PEOPLE = (
    ("alice", ("sre-oncall",), Role.APPROVER),
    ("bob", ("sre-leads",), Role.ADMINISTRATOR),
    ("carol", ("viewers",), Role.VIEWER),
    ("dave", ("sre-leads",), Role.APPROVER),  # the second approver M-of-N tiers need
)


def ensure_embedded_users(
    users_file: Path,
    passwords_file: Path,
    directory: Sequence[tuple[str, tuple[str, ...], Role]] = EMBEDDED_PEOPLE,
) -> None:
    """`directory`: (name, groups, role) per person; `warden up --config` passes the estate's approvers."""
    if users_file.exists():
        return
    people = [(name, secrets.token_urlsafe(12), groups, role) for name, groups, role in directory]
    write_users_file(users_file, people)
    _record_passwords(passwords_file, [(name, role, password) for name, password, _, role in people], fresh=True)


def follow_directory(
    users_file: Path, passwords_file: Path, directory: Sequence[tuple[str, tuple[str, ...], Role]]
) -> list[str]:
    """Make the users file hold exactly `directory`: new people get a random initial password
    (appended to the passwords file), people no longer listed are removed, groups and roles follow;
    everyone who stays keeps their password hash. Returns what changed in an existing file, one line
    per person."""
    if not users_file.exists():
        ensure_embedded_users(users_file, passwords_file, directory)
        return []  # the first start: `warden up` already says where the initial passwords are
    raw = yaml.safe_load(users_file.read_text()) or {}
    found = raw.get("users") if isinstance(raw, dict) else None
    current: dict[str, Any] = found if isinstance(found, dict) else {}
    wanted = {name: (list(groups), role) for name, groups, role in directory}
    changes = [f"removed {name}" for name in current if name not in wanted]
    users: dict[str, dict[str, object]] = {}
    added: list[tuple[str, Role, str]] = []
    for name, (groups, role) in wanted.items():
        entry = current.get(name)
        if isinstance(entry, dict) and str(entry.get("password_hash", "")).startswith("$argon2"):
            if entry.get("groups") != groups or entry.get("role") != role.label:
                changes.append(f"changed {name}: groups {groups}, {role.label}")
            users[name] = {**entry, "groups": groups, "role": role.label}
        else:
            password = secrets.token_urlsafe(12)
            added.append((name, role, password))
            users[name] = {"password_hash": hash_password(password), "groups": groups, "role": role.label}
            changes.append(f"added {name} ({role.label})")
    if changes:
        _write_yaml_owner_only(users_file, {"users": users})
    if added:
        _record_passwords(passwords_file, added, fresh=False)
    return changes


def _write_yaml_owner_only(path: Path, body: dict[str, object]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(body, fh, sort_keys=True)


def _record_passwords(passwords_file: Path, people: Sequence[tuple[str, Role, str]], *, fresh: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if fresh else os.O_APPEND)
    fd = os.open(passwords_file, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        if fresh:
            fh.write("# Initial console passwords (embedded mode). The console keeps only argon2 hashes.\n")
        fh.writelines(f"{name} ({role.label}): {password}\n" for name, role, password in people)
