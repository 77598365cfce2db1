"""`Minter`: a NATS user JWT (signed with the account key, expiring on its own: the server
disconnects the holder at `exp`) and a sandbox write token for the ticket's one target."""

from __future__ import annotations

from dataclasses import dataclass

from warden_bus.elevation import mint_elevated_user
from warden_bus.embedded_auth import AuthMaterial
from warden_contracts.events import ElevationTicket
from warden_security.tokens import SANDBOX_AUDIENCE, TokenIssuer

from warden_elevation.domain.model import Minted

SANDBOX_TOKEN = "sandbox_token"  # the executor's sandbox adapter reads this extra


@dataclass(frozen=True)
class EmbeddedMinter:
    material: AuthMaterial
    tokens: TokenIssuer

    def mint(self, principal: str, ticket: ElevationTicket, ttl_s: int) -> Minted:
        jwt, seed, expires_at = mint_elevated_user(self.material, principal, ttl_s)
        token = self.tokens.issue(
            principal, SANDBOX_AUDIENCE, ttl_s, targets=[ticket.target], action_id=ticket.action_id
        )
        return Minted(expires_at, jwt, seed, {SANDBOX_TOKEN: token})
