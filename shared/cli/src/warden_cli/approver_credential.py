"""The approver's own credential for `warden approve` / `warden deny`.

The CLI signs the decision with the local issuer key, so without this anyone who can run the CLI
could decide as anyone. It now asks for the person's console password (a prompt, or
`--password-file`) and has the console check it against its users file (argon2 hashes) and its
roles (`warden_console.api.check_approver`) before it signs.
Stated plainly: where one OS user runs the stack, that user can read the issuer key itself; this
closes the "just type --as alice" path, not a determined local administrator (docs/security-model.md).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from warden_console import api as console
from warden_console.api import CredentialRefused

__all__ = ["USERS_FILE", "CredentialRefused", "check_approver", "password_from_file", "read_password"]

USERS_FILE = "console-users.yaml"


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
    """Refuses unless `user` signs in with `password` and may decide approvals (the console's rule)."""
    console.check_approver(keys_dir / USERS_FILE, user, password)
