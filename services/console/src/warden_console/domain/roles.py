"""Who may do what in the approver experience: viewers look, approvers decide, administrators also
flip the kill switch and modes. Roles are derived from directory groups (or Entra app roles)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum


class Role(IntEnum):
    # Ordered: a higher role can do everything a lower one can.
    VIEWER = 1
    APPROVER = 2
    ADMINISTRATOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}; use viewer, approver or administrator") from None


@dataclass(frozen=True)
class Principal:
    """A signed-in human, however they proved it (password, OIDC, Teams, Slack)."""

    name: str
    role: Role
    groups: tuple[str, ...] = ()
    auth_method: str = "password"
    display_name: str = ""
    # Subject at the upstream identity provider (Entra object id, Slack user id), kept for audit.
    external_id: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def may_decide(self) -> bool:
        return self.role >= Role.APPROVER

    @property
    def may_control(self) -> bool:
        return self.role >= Role.ADMINISTRATOR


def role_from(claims: Iterable[str], role_map: Mapping[str, str], default: Role | None = Role.VIEWER) -> Role | None:
    """The highest role any group / app-role grants; `default` when none maps (None: no access)."""
    granted = [Role.parse(role_map[c]) for c in claims if c in role_map]
    return max(granted) if granted else default
