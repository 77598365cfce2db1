"""Grants survive a restart of the authority (real SQLite): the holder of a grant's secret can
still release it, a wrong secret is still refused, and a grant that ran out while the authority
was down is announced as expired once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.events import ElevationTicket
from warden_elevation.adapters.sqlite_grants import SqliteGrantStore
from warden_elevation.adapters.sqlite_tickets import SqliteTicketStore
from warden_elevation.domain.authority import Authority
from warden_elevation.domain.model import ActiveGrant, Change, Minted, Refused, Request
from warden_security.action_signing import LocalSigner
from warden_security.signatures import trust
from warden_security.ticket_signing import sign_ticket

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
POLICY = Ed25519PrivateKey.generate()


@dataclass
class Clock:
    moment: datetime = NOW

    def now(self) -> datetime:
        return self.moment


class Minter:
    """The credentials' boundary: the real one signs NATS JWTs; what matters here is the expiry."""

    def mint(self, principal: str, ticket: ElevationTicket, ttl_s: int) -> Minted:
        return Minted(NOW.timestamp() + ttl_s, "jwt", "seed", {"sandbox_token": "token"})


@dataclass
class Audit:
    changes: list[Change] = field(default_factory=list)

    async def __call__(self, change: Change) -> None:
        self.changes.append(change)


def _ticket() -> ElevationTicket:
    return sign_ticket(
        LocalSigner(POLICY),
        action_id="act-1",
        target="checkout-api",
        principal="executor",
        incident_id="inc-7",
        not_after=NOW + timedelta(minutes=15),
    )


def _request() -> Request:
    return Request("executor", "executor", "incident inc-7 action act-1", 120, "act-1")


@pytest.fixture
def authority_at(tmp_path: Path) -> Callable[[Audit, Clock], AsyncIterator[Authority]]:
    db = tmp_path / "state" / "elevation.db"

    @asynccontextmanager
    async def running(audit: Audit, clock: Clock) -> AsyncIterator[Authority]:
        tickets, grants = SqliteTicketStore(db), SqliteGrantStore(db)
        await tickets.open()
        await grants.open()
        authority = Authority(
            tickets=tickets,
            minter=Minter(),
            announce=audit,
            clock=clock,
            trusted=trust([POLICY.public_key()]),
            eligible=frozenset({"executor"}),
            max_ttl_s=300,
            ticket_wait_s=0,
            grants=grants,
        )
        try:
            await authority.restore()
            yield authority
        finally:
            await grants.close()
            await tickets.close()

    return running  # type: ignore[return-value]


async def test_a_restarted_authority_releases_a_grant_only_for_its_secret(authority_at) -> None:
    audit, clock = Audit(), Clock()
    async with authority_at(audit, clock) as first:
        await first.accept_ticket(_ticket())
        issued = await first.grant(_request())
    async with authority_at(audit, clock) as second:
        assert list(second.active) == [issued.grant_id]
        with pytest.raises(Refused, match="secret"):
            await second.release("executor", issued.grant_id, "not-the-secret")
        await second.release("executor", issued.grant_id, issued.release_secret)
        assert second.active == {}
    async with authority_at(audit, clock) as third:
        assert third.active == {}  # released for good: not restored again
        with pytest.raises(Refused, match="no active grant"):
            await third.release("executor", issued.grant_id, issued.release_secret)
    assert [c.state for c in audit.changes] == ["activated", "refused", "deactivated", "refused"]
    assert audit.changes[2].justification.startswith("released")


async def test_a_grant_that_ran_out_during_the_restart_is_announced_expired(authority_at) -> None:
    audit, clock = Audit(), Clock()
    async with authority_at(audit, clock) as first:
        await first.accept_ticket(_ticket())
        issued = await first.grant(_request())
    clock.moment = NOW + timedelta(seconds=121)  # the authority was down when the grant ran out
    async with authority_at(audit, clock) as second:
        assert await second.expire_due() == 1
    async with authority_at(audit, clock) as third:
        assert third.active == {}
        assert await third.expire_due() == 0  # announced once
    ended = [c for c in audit.changes if c.state == "deactivated"]
    assert [(c.grant_id, c.justification) for c in ended] == [(issued.grant_id, "expired")]


@dataclass
class FailingAudit(Audit):
    """The bus refuses the "activated" record (broker down): the grant must not stand."""

    async def __call__(self, change: Change) -> None:
        if change.state == "activated":
            raise ConnectionError("no broker")
        await super().__call__(change)


async def test_a_grant_whose_audit_record_fails_is_not_kept_or_handed_out(authority_at) -> None:
    audit, clock = FailingAudit(), Clock()
    async with authority_at(audit, clock) as first:
        await first.accept_ticket(_ticket())
        with pytest.raises(ConnectionError):
            await first.grant(_request())
        assert first.active == {}
    async with authority_at(Audit(), clock) as second:
        assert second.active == {}  # nothing to announce or release after a restart either


async def test_a_grant_stored_before_a_crash_is_announced_by_the_restarted_authority(
    authority_at, tmp_path: Path
) -> None:
    # What the authority leaves when it dies between the grant's row and its audit record.
    ticket = _ticket()
    grants = SqliteGrantStore(tmp_path / "state" / "elevation.db")
    await grants.open()
    await grants.add(
        ActiveGrant("g-crash", "executor", ticket, NOW.timestamp() + 120, "incident inc-7 action act-1", "d" * 64)
    )
    await grants.close()

    audit, clock = Audit(), Clock()
    async with authority_at(audit, clock) as restarted:
        assert list(restarted.active) == ["g-crash"]
    assert [(c.grant_id, c.state, c.action_id, c.target) for c in audit.changes] == [
        ("g-crash", "activated", "act-1", "checkout-api")
    ]
    async with authority_at(audit, clock):
        pass
    assert len(audit.changes) == 1  # announced once, then marked
    clock.moment = NOW + timedelta(seconds=121)
    async with authority_at(audit, clock) as later:
        assert await later.expire_due() == 1
    assert [c.state for c in audit.changes] == ["activated", "deactivated"]
