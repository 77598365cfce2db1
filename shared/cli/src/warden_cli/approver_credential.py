"""The approver's own credential for `warden approve` / `warden deny`.

The CLI signs the decision with the local issuer key, so without this anyone who can run the CLI
could decide as anyone. It now asks for the person's console password (a prompt, or
`--password-file`) and checks it against the console's users file (argon2 hashes) before it signs.
Stated plainly: where one OS user runs the stack, that user can read the issuer key itself; this
closes the "just type --as alice" path, not a determined local administrator (docs/security-model.md).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from warden_console.adapters.local_users import LocalDirectory, UsersFileError
from warden_console.domain.roles import Role

USERS_FILE = "console-users.yaml"


class CredentialRefused(RuntimeError):
    pass


def password_from_file(path: Path, user: str) -> str:
    """The password in `path`: its first line, or, in the initial-passwords file `warden up`
    writes (`name (role): password` per line), the line of `user`."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    except OSError as err:
        raise CredentialRefused(f"cannot read the password file {path}: {err.strerror or err}") from None
    for line in lines:
        name, sep, rest = line.partition(" (")
        if sep and name == user and "): " in rest:
            return rest.split("): ", 1)[1]
    if len(lines) == 1 and "): " not in lines[0]:
        return lines[0]
    raise CredentialRefused(f"no password for {user} in {path}")


def read_password(user: str, password_file: Path | None) -> str:
    if password_file is not None:
        return password_from_file(password_file, user)
    if not sys.stdin.isatty():
        raise CredentialRefused("the approver's password is needed: pass --password-file or run in a terminal")
    return getpass.getpass(f"password for {user}: ")


def check_approver(keys_dir: Path, user: str, password: str) -> None:
    """Refuses unless `user` signs in with `password` and may decide approvals (approver or above)."""
    users_file = keys_dir / USERS_FILE
    try:
        directory = LocalDirectory(users_file)
    except (OSError, UsersFileError) as err:
        raise CredentialRefused(f"cannot check the credential: {users_file}: {err}") from None
    principal = directory.authenticate(user, password)
    if principal is None:
        raise CredentialRefused(f"sign-in refused for {user}: wrong user or password")
    if principal.role < Role.APPROVER:
        raise CredentialRefused(f"{user} is a {principal.role.label}: only approvers decide approvals")
