"""Who pressed the button: a chat account mapped to a person of the directory, never trusted by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from warden_console.domain.roles import Principal
from warden_console.ports import Directory


def chat_principal(
    directory: Directory | None, mapping: Mapping[str, str], account: str, method: str
) -> Principal | None:
    name = mapping.get(account)
    who = directory.lookup(name) if directory and name else None
    return dataclasses.replace(who, auth_method=method, external_id=account) if who else None
