"""The authority's refusals and grants, with the ports replaced at their boundary (an in-memory
ticket store, a minter that records what it was asked): every refusal is audited, and a grant
is bound to one ticketed action, its target and a bounded lifetime."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_contracts.events import ElevationTicket
from warden_elevation.domain.authority import Authority
from warden_elevation.domain.model import Change, Minted, Refused, Request
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


@dataclass
class MemoryTickets:
    rows: dict[str, ElevationTicket] = field(default_factory=dict)
    released_ids: set[str] = field(default_factory=set)

    async def put(self, ticket: ElevationTicket) -> bool:
        return self.rows.setdefault(ticket.action_id, ticket) is ticket

    async def get(self, action_id: str) -> ElevationTicket | None:
        return self.rows.get(action_id)

    async def oldest_open(self, principal: str, now: datetime) -> ElevationTicket | None:
        open_ = [t for t in self.rows.values() if t.principal == principal and t.action_id not in self.released_ids]
        return next((t for t in open_ if t.not_after > now), None)

    async def released(self, action_id: str) -> None:
        self.released_ids.add(action_id)


@dataclass
class RecordingMinter:
    asked: list[tuple[str, str, int]] = field(default_factory=list)

    def mint(self, principal: str, ticket: ElevationTicket, ttl_s: int) -> Minted:
        self.asked.append((principal, ticket.target, ttl_s))
        return Minted(NOW.timestamp() + ttl_s, "jwt", "seed", {"sandbox_token": f"token-for-{ticket.target}"})


@dataclass
class Audit:
    changes: list[Change] = field(default_factory=list)

    async def __call__(self, change: Change) -> None:
        self.changes.append(change)

    def states(self) -> list[str]:
        return [c.state for c in self.changes]


def ticket(action_id: str = "act-1", target: str = "checkout-api", principal: str = "executor", key=POLICY, **kw):
    fields = {"incident_id": "inc-7", "not_after": NOW + timedelta(minutes=15)} | kw
    return sign_ticket(LocalSigner(key), action_id=action_id, target=target, principal=principal, **fields)


def ask(action_id: str | None = "act-1", requester: str = "executor", **kw) -> Request:
    fields = {"principal": requester, "justification": f"incident inc-7 action {action_id}", "ttl_s": 120} | kw
    return Request(requester=requester, action_id=action_id, **fields)


@pytest.fixture
def kit():
    audit, minter, clock = Audit(), RecordingMinter(), Clock()
    authority = Authority(
        tickets=MemoryTickets(),
        minter=minter,
        announce=audit,
        clock=clock,
        trusted=trust([POLICY.public_key()]),
        eligible=frozenset({"executor"}),
        max_ttl_s=300,
        min_ttl_s=5,
        ticket_wait_s=0,
    )
    return authority, audit, minter, clock


async def test_a_ticketed_request_is_granted_for_that_target_only_and_audited_first(kit) -> None:
    authority, audit, minter, _ = kit
    assert await authority.accept_ticket(ticket()) == []
    issued = await authority.grant(ask(ttl_s=9999))
    assert minter.asked == [("executor", "checkout-api", 300)]  # capped at the configured maximum
    assert issued.ticket.action_id == "act-1" and issued.minted.extras["sandbox_token"] == "token-for-checkout-api"
    assert audit.states() == ["activated"]
    activated = audit.changes[0]
    # The incident comes from the signed ticket, not from the free-text justification.
    assert (activated.correlationid, activated.action_id, activated.target) == ("inc-7", "act-1", "checkout-api")


@pytest.mark.parametrize(
    ("prepare", "request_", "reason"),
    [
        ("nothing", ask(), "no elevation ticket for action act-1"),
        ("expired", ask(), "ticket expired"),
        ("wrong-target", ask(target="payments-api"), "covers checkout-api, not payments-api"),
        ("ticket", ask(requester="planner"), "planner is not eligible"),
        ("ticket", ask(principal="planner"), "executor asked on behalf of planner"),
        ("other-principal", ask(), "is for auditor, not executor"),
        ("ticket", ask(ttl_s=1), "at least 5s"),
        ("ticket", ask(action_id="act-2"), "no elevation ticket for action act-2"),
    ],
)
async def test_refusals_are_audited_and_grant_nothing(kit, prepare: str, request_: Request, reason: str) -> None:
    authority, audit, minter, clock = kit
    if prepare == "other-principal":
        await authority.accept_ticket(ticket(principal="auditor"))
    elif prepare != "nothing":
        await authority.accept_ticket(ticket())
    if prepare == "expired":
        clock.moment = NOW + timedelta(minutes=16)
    with pytest.raises(Refused, match=reason):
        await authority.grant(request_)
    assert minter.asked == []
    assert audit.states() == ["refused"] and reason in audit.changes[-1].justification


async def test_a_forged_ticket_is_refused_on_arrival_and_cannot_be_used(kit) -> None:
    authority, audit, minter, _ = kit
    forged = ticket(key=Ed25519PrivateKey.generate())  # signed, but not by the policy
    assert "unknown key" in (await authority.accept_ticket(forged))[0]
    altered = ticket().model_copy(update={"target": "payments-api"})  # signed for another target
    assert await authority.accept_ticket(altered) == ["ticket signature does not verify"]
    with pytest.raises(Refused, match="no elevation ticket"):
        await authority.grant(ask())
    assert audit.states() == ["refused", "refused", "refused"] and minter.asked == []


async def test_a_release_needs_the_grants_secret(kit) -> None:
    authority, audit, _, _ = kit
    await authority.accept_ticket(ticket())
    issued = await authority.grant(ask())
    with pytest.raises(Refused, match="secret"):
        await authority.release("executor", issued.grant_id, "")
    with pytest.raises(Refused, match="secret"):
        await authority.release("planner", issued.grant_id, issued.release_secret)
    assert issued.grant_id in authority.active  # a refused release ends nothing
    await authority.release("executor", issued.grant_id, issued.release_secret)
    with pytest.raises(Refused, match="no active grant"):
        await authority.release("executor", issued.grant_id, issued.release_secret)
    assert audit.states() == ["activated", "refused", "refused", "deactivated", "refused"]
    assert audit.changes[3].justification.startswith("released: ")


async def test_a_grant_that_is_not_released_is_announced_expired(kit) -> None:
    authority, audit, _, clock = kit
    await authority.accept_ticket(ticket())
    await authority.grant(ask())
    assert await authority.expire_due() == 0
    clock.moment = NOW + timedelta(seconds=121)
    assert await authority.expire_due() == 1
    assert audit.states() == ["activated", "deactivated"] and audit.changes[-1].justification == "expired"


async def test_a_job_style_request_takes_the_oldest_open_ticket(kit) -> None:
    authority, _, _, _ = kit
    await authority.accept_ticket(ticket("act-1", "checkout-api"))
    await authority.accept_ticket(ticket("act-2", "orders-worker"))
    first = await authority.grant(ask(action_id=None))
    await authority.release("executor", first.grant_id, first.release_secret)
    second = await authority.grant(ask(action_id=None))
    assert (first.ticket.action_id, second.ticket.action_id) == ("act-1", "act-2")


async def test_a_doorbell_that_overtakes_its_ticket_waits_for_it(kit) -> None:
    import asyncio

    authority, _, _, _ = kit
    authority.ticket_wait_s = 2.0
    pending = asyncio.create_task(authority.grant(ask()))
    await asyncio.sleep(0.05)
    await authority.accept_ticket(ticket())
    assert (await pending).ticket.action_id == "act-1"
