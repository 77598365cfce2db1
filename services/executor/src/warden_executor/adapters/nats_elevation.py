"""Elevation and the approved-action source over the embedded NATS elevation authority.

The standing identity only asks; the grant's short-lived user JWT is what may read
`sre.action.approved.v1`, and the server disconnects it at expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from warden_bus.elevation import ElevationGrant, NatsElevatedDrain, NatsElevationClient

from warden_executor.domain.doorbell import ActionHandler
from warden_executor.domain.model import Grant

APPROVED_TOPIC = "sre.action.approved.v1"
_JWT, _SEED, _RELEASE = "nats_jwt", "nats_seed", "release_secret"


def to_grant(granted: ElevationGrant) -> Grant:
    material = {**granted.extras, _JWT: granted.nats_jwt, _SEED: granted.nats_seed, _RELEASE: granted.release_secret}
    return Grant(
        grant_id=granted.grant_id,
        principal=granted.principal,
        expires_at=datetime.fromtimestamp(granted.expires_at, UTC),
        material=material,
        action_id=granted.action_id,
    )


def to_elevation_grant(grant: Grant) -> ElevationGrant:
    extras = {k: v for k, v in grant.material.items() if k not in (_JWT, _SEED, _RELEASE)}
    try:
        return ElevationGrant(
            grant_id=grant.grant_id,
            principal=grant.principal,
            expires_at=grant.expires_at.timestamp(),
            nats_jwt=grant.material[_JWT],
            nats_seed=grant.material[_SEED],
            extras=extras,
            action_id=grant.action_id,
            release_secret=grant.material.get(_RELEASE, ""),
        )
    except KeyError as missing:
        raise ValueError(f"grant {grant.grant_id} carries no NATS credential {missing}") from None


class NatsElevation:
    def __init__(self, url: str, creds: Path, identity: str = "executor") -> None:
        self._client = NatsElevationClient(url, str(creds), identity)

    async def elevate(self, justification: str, ttl_s: int, action_id: str | None = None) -> Grant:
        return to_grant(await self._client.elevate(justification, ttl_s, action_id))

    async def release(self, grant: Grant) -> None:
        await self._client.release(grant.grant_id, grant.material.get(_RELEASE, ""))


class NatsApprovedActionSource:
    def __init__(self, url: str, identity: str = "executor", topic: str = APPROVED_TOPIC) -> None:
        self._url, self._identity, self._topic = url, identity, topic

    async def drain(self, grant: Grant, handler: ActionHandler, *, max_messages: int) -> int:
        drain = NatsElevatedDrain(self._url, to_elevation_grant(grant), self._identity)
        return await drain.drain(self._topic, handler, max_messages=max_messages)

    async def in_flight(self, grant: Grant) -> int:
        return await NatsElevatedDrain(self._url, to_elevation_grant(grant), self._identity).in_flight(self._topic)
