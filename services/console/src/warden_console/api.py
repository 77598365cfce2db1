"""The console's public surface for tools outside the service (the `warden` CLI and launcher).

Who may sign in to the console and with which role, from the estate's approvers; the embedded
stack's initial users; and the check `warden approve` / `warden deny` make before signing a
decision as a person (that person's console password, and a role that may decide approvals). No
other module of this service is imported from outside it (import contract "The CLI imports a
service only through its api module", docs/adr/0009).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from warden_console.adapters.local_users import LocalDirectory, UsersFileError
from warden_console.bootstrap import EMBEDDED_PEOPLE, ensure_embedded_users, follow_directory
from warden_console.domain.roles import Role

__all__ = [
    "EMBEDDED_PEOPLE",
    "CredentialRefused",
    "Role",
    "check_approver",
    "console_roles",
    "ensure_embedded_users",
    "follow_approvers",
]

# Groups whose members decide approvals in the console; the first lead also administers it.
APPROVING_GROUPS = frozenset({"sre-oncall", "sre-leads"})
LEAD_GROUP = "sre-leads"


class CredentialRefused(RuntimeError):
    pass


def console_roles(approvers: Iterable[tuple[str, Sequence[str]]]) -> list[tuple[str, tuple[str, ...], Role]]:
    """(name, groups, role) per approver: on-call and leads approve, everyone else views, and the
    first lead listed is the console's administrator."""
    directory: list[tuple[str, tuple[str, ...], Role]] = []
    admin_given = False
    for name, listed in approvers:
        groups = tuple(listed)
        role = Role.APPROVER if set(groups) & APPROVING_GROUPS else Role.VIEWER
        if LEAD_GROUP in groups and not admin_given:
            role, admin_given = Role.ADMINISTRATOR, True
        directory.append((name, groups, role))
    return directory


def follow_approvers(
    users_file: Path, passwords_file: Path, approvers: Iterable[tuple[str, Sequence[str]]]
) -> list[str]:
    """Make the console's users file hold exactly these approvers (see `console_roles`); returns
    what changed in an existing file, one line per person."""
    return follow_directory(users_file, passwords_file, console_roles(approvers))


def check_approver(users_file: Path, user: str, password: str) -> None:
    """Raises CredentialRefused unless `user` signs in with `password` and may decide approvals
    (approver or above)."""
    try:
        directory = LocalDirectory(users_file)
    except (OSError, UsersFileError) as err:
        raise CredentialRefused(f"cannot check the credential: {users_file}: {err}") from None
    principal = directory.authenticate(user, password)
    if principal is None:
        raise CredentialRefused(f"sign-in refused for {user}: wrong user or password")
    if principal.role < Role.APPROVER:
        raise CredentialRefused(f"{user} is a {principal.role.label}: only approvers decide approvals")
