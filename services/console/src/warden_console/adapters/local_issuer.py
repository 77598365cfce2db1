"""The embedded mode's identity issuer: the console vouches, with the local issuer key policy trusts,
for a human it has just authenticated (password, OIDC, Teams or Slack)."""

from __future__ import annotations

from dataclasses import dataclass

from warden_security.tokens import APPROVAL_AUDIENCE, TokenIssuer

from warden_console.domain.roles import Principal

# Short: the token only has to reach policy on the bus; a replay is refused by its `jti`.
TOKEN_TTL_S = 120


@dataclass(frozen=True)
class LocalIdentityIssuer:
    issuer: TokenIssuer
    ttl_s: int = TOKEN_TTL_S

    def token_for(self, who: Principal, approval_id: str, action_hash: str, channel: str) -> str:
        return self.issuer.issue(
            who.name,
            APPROVAL_AUDIENCE,
            self.ttl_s,
            approval_id=approval_id,
            action_hash=action_hash,
            groups=list(who.groups),
            # How the human proved who they are, for the audit trail (RFC 8176 style).
            amr=[who.auth_method],
            channel=channel,
            **({"idp_sub": who.external_id} if who.external_id else {}),
        )
