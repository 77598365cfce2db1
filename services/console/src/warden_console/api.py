"""The console's public surface for tools outside the service (the `warden` CLI and launcher).

Who may sign in to the console and with which role, from the estate's approvers; the embedded
stack's initial users; the check `warden approve` / `warden deny` make before a decision is signed
as a person (that person's console password, and a role that may decide approvals); and the
signing itself, as the console signs a decision made on its pages: the local issuer's key and the
person's groups from the console's users file. No other module of this service is imported from
outside it (import contract "The CLI imports a service only through its api module",
docs/adr/0009).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from warden_security.keys import load_or_create_private_key
from warden_security.tokens import LOCAL_APPROVER_ISSUER, TokenIssuer

from warden_console.adapters.local_issuer import LocalIdentityIssuer
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
    "sign_approval",
]

# Groups whose members decide approvals in the console; the first lead also administers it.
APPROVING_GROUPS = frozenset({"sre-oncall", "sre-leads"})
LEAD_GROUP = "sre-leads"
# Longer than the console's own tokens (adapters/local_issuer.py): a tool signs before it connects
# to the broker, which may take up to its connect timeout on a loaded machine.
TOOL_TOKEN_TTL_S = 300


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


def _directory(users_file: Path, doing: str) -> LocalDirectory:
    try:
        return LocalDirectory(users_file)
    except (OSError, UsersFileError) as err:
        raise CredentialRefused(f"cannot {doing}: {users_file}: {err}") from None


def check_approver(users_file: Path, user: str, password: str) -> None:
    """Raises CredentialRefused unless `user` signs in with `password` and may decide approvals
    (approver or above)."""
    principal = _directory(users_file, "check the credential").authenticate(user, password)
    if principal is None:
        raise CredentialRefused(f"sign-in refused for {user}: wrong user or password")
    if principal.role < Role.APPROVER:
        raise CredentialRefused(f"{user} is a {principal.role.label}: only approvers decide approvals")


def sign_approval(
    users_file: Path, issuer_key: Path, user: str, approval_id: str, action_hash: str, *, channel: str = "cli"
) -> str:
    """The identity token for `user`'s decision on one approval request and action: signed with the
    embedded mode's local issuer key (created if missing, as the console does) and carrying the
    groups the console's users file gives `user` (the estate's approvers, or the embedded people:
    those of policy's approver directory). Checks no password (`check_approver` does, where a person
    types one); policy decides what those groups may approve. Raises CredentialRefused for a
    person the users file does not name."""
    directory = _directory(users_file, "sign the decision")
    who = directory.lookup(user)
    if who is None:
        raise CredentialRefused(f"unknown user {user!r}; known: {', '.join(directory.names())}")
    issuer = TokenIssuer(load_or_create_private_key(issuer_key), LOCAL_APPROVER_ISSUER)
    return LocalIdentityIssuer(issuer, ttl_s=TOOL_TOKEN_TTL_S).token_for(who, approval_id, action_hash, channel)
