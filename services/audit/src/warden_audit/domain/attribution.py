"""Who produced a message, as far as the broker can vouch for it, and who the human behind it is.

The envelope's `source` is self-declared: any client can write anything there. What the broker
enforces is narrower and harder: only the identities the topology lets publish on a topic can put a
message on it. Audit consumes each topic through its own subscription, so it knows the topic a
message arrived on and therefore the set of identities that could have sent it. When that set has
one member, that is the producer (basis `broker_acl`). When it has several (alerts: ingest or
triage; escalations: planner, policy or executor; dead letters: any service), the declared source
picks one of them only if it names a member (basis `broker_acl+declared`); otherwise the record
says it could not attribute the message (`unattributed`) and keeps the claim for the investigator.

For approvals, the human is the subject of the identity token. When the issuer's key is
configured, audit checks the token's signature itself (`verified`), independently of policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from warden_contracts import topology as topo

APPROVAL_DECIDED = "sre.approval.decided.v1"
CONTROL_CHANGED = "sre.control.changed.v1"


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    issuer: str
    groups: tuple[str, ...]
    token_id: str
    verified: bool
    problem: str = ""


# Reads an approver token; never raises (a bad token is evidence, not an error).
TokenReader = Callable[[str], TokenClaims]


def _declared_identity(source: str) -> str | None:
    """The bus identity a `warden/<identity>[/...]` source names, if it names one."""
    parts = source.split("/")
    if len(parts) >= 2 and parts[0] == "warden" and parts[1] in topo.IDENTITIES:
        return parts[1]
    return None


def attribute(topic: str, envelope: Mapping[str, Any], read_token: TokenReader | None = None) -> dict[str, Any]:
    """The `actor` member of the record for `envelope` received on `topic`.

    `consistent` is False when the declared source names a different bus identity than the one the
    broker allows: a message claiming to be someone it cannot be.
    """
    candidates = topo.topic(topic).producers
    declared = str(envelope.get("source") or "")
    actor: dict[str, Any] = {"declared_source": declared, "candidates": list(candidates)}
    claimed = _declared_identity(declared)
    if len(candidates) == 1:
        actor |= {"identity": candidates[0], "basis": "broker_acl"}
    elif claimed in candidates:
        actor |= {"identity": claimed, "basis": "broker_acl+declared"}
    else:
        actor |= {"identity": None, "basis": "unattributed"}
    actor["consistent"] = claimed is None or claimed == actor["identity"]
    human = _human(topic, envelope, read_token)
    if human is not None:
        actor["principal"] = human
    return actor


def _human(topic: str, envelope: Mapping[str, Any], read_token: TokenReader | None) -> dict[str, Any] | None:
    data = envelope.get("data") or {}
    if topic == APPROVAL_DECIDED and isinstance(data.get("identity_token"), str) and read_token is not None:
        claims = read_token(data["identity_token"])
        principal: dict[str, Any] = {
            "id": claims.subject,
            "kind": "human",
            "issuer": claims.issuer,
            "groups": list(claims.groups),
            "token_id": claims.token_id,
            "verified": claims.verified,
        }
        if claims.problem:
            principal["problem"] = claims.problem
        return principal
    if topic == CONTROL_CHANGED and isinstance(data.get("changed_by"), str):
        # Declared by the operator client; the broker vouches only that an operator sent it.
        return {"id": data["changed_by"], "kind": "human", "verified": False}
    return None
