"""First start of the embedded mode: the local people who can sign in to the console.

The directory users policy knows (alice: on-call approver, bob: lead and administrator, carol:
viewer, dave: the second lead M-of-N tiers need) get random passwords once; only argon2 hashes are
kept in the users file, and the initial passwords go to an owner-only file the person running
`warden up` can read.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from warden_console.adapters.local_users import write_users_file
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
    fd = os.open(passwords_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Initial console passwords (embedded mode). The console keeps only argon2 hashes.\n")
        fh.writelines(f"{name} ({role.label}): {password}\n" for name, password, _, role in people)
