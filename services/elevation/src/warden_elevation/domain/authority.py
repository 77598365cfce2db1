"""The elevation authority's decisions (DESIGN §3: write access only after approval, briefly).

A grant needs a policy-signed ticket for one approved action, asked for by the identity the
ticket names, which must be eligible in the topology; it lasts at most `max_ttl_s` and its write
credential covers only the ticket's target. A release must present the grant's secret. Every
grant, refusal, release and expiry is announced (audited) before anyone hears the outcome: no
audit record, no elevation.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from warden_contracts.events import ElevationTicket
from warden_security.signatures import PublicKey
from warden_security.ticket_signing import verify_ticket

from warden_elevation.domain.model import (
    ActiveGrant,
    Announcer,
    Change,
    Clock,
    GrantStore,
    Issued,
    Minter,
    Refused,
    Request,
    TicketStore,
    secret_digest,
)

log = logging.getLogger("warden.elevation")


@dataclass
class Authority:
    tickets: TicketStore
    minter: Minter
    announce: Announcer
    clock: Clock
    trusted: Mapping[str, PublicKey]
    eligible: frozenset[str]
    max_ttl_s: int
    min_ttl_s: int = 1
    # The doorbell can overtake the ticket (both published by policy, consumed by two services).
    ticket_wait_s: float = 2.0
    # The durable copy of `active`; None keeps grants in memory only (a restart forgets them).
    grants: GrantStore | None = None
    active: dict[str, ActiveGrant] = field(default_factory=dict)
    _arrived: dict[str, asyncio.Event] = field(default_factory=dict)

    async def restore(self) -> int:
        """After a restart: the grants in force before it are known again (release, expiry)."""
        if self.grants is None:
            return 0
        restored = await self.grants.live()
        for grant in restored:
            if not grant.announced:  # stored, then the authority died before its audit record
                await self.announce(self._activated(grant))
                await self.grants.announced(grant.grant_id)
        self.active.update((grant.grant_id, replace(grant, announced=True)) for grant in restored)
        return len(restored)

    async def accept_ticket(self, ticket: ElevationTicket) -> list[str]:
        """Keep a ticket that verifies; refuse (and audit) one that does not."""
        problems = verify_ticket(ticket, self.trusted, now=self.clock.now())
        if problems:
            await self._refusal(ticket.principal, f"ticket refused: {'; '.join(problems)}", ticket.incident_id, ticket)
            return problems
        await self.tickets.put(ticket)
        self._arrived.pop(ticket.action_id, asyncio.Event()).set()
        return []

    async def grant(self, request: Request) -> Issued:
        try:
            ticket = await self._ticket_for(request)
            ttl = self._ttl(request.ttl_s)
        except Refused as refused:
            known = await self.tickets.get(request.action_id) if request.action_id else None
            await self._refusal(request.requester, f"{refused}: {request.justification}", None, known, request)
            raise
        minted = self.minter.mint(request.requester, ticket, ttl)
        issued = Issued(str(uuid.uuid4()), request.requester, ticket, minted, secrets.token_urlsafe(32))
        active = ActiveGrant(
            issued.grant_id,
            issued.principal,
            ticket,
            minted.expires_at,
            request.justification,
            secret_digest(issued.release_secret),
            announced=False,
        )
        # The row before the audit record: a crash in between leaves a grant the restart announces
        # (at least once), where the other order could leave an audited grant nobody can release.
        if self.grants is not None:
            await self.grants.add(active)
        try:
            await self.announce(self._activated(active))
        except BaseException:
            if self.grants is not None:
                await self.grants.remove(active.grant_id)  # never announced: the requester never hears of it
            raise
        if self.grants is not None:
            await self.grants.announced(active.grant_id)
        self.active[issued.grant_id] = replace(active, announced=True)
        return issued

    @staticmethod
    def _activated(grant: ActiveGrant) -> Change:
        t = grant.ticket
        return Change(
            grant.grant_id,
            grant.principal,
            "activated",
            grant.justification,
            t.incident_id,
            grant.expires_at,
            t.action_id,
            t.target,
        )

    async def release(self, requester: str, grant_id: str, secret: str) -> None:
        grant = self.active.get(grant_id)
        if grant is None:
            await self._refusal(requester, f"release refused: no active grant {grant_id}", None, None)
            raise Refused(f"no active grant {grant_id}")
        if requester != grant.principal or not hmac.compare_digest(secret_digest(secret), grant.secret_sha256):
            # The grant stays: its holder can still release it, and it expires on its own.
            await self._refusal(requester, f"release of {grant_id} refused: wrong secret", None, grant.ticket)
            raise Refused("the release does not carry the grant's secret")
        await self._forget(grant_id)
        await self.tickets.released(grant.ticket.action_id)
        await self._ended(grant, f"released: {grant.justification}")

    async def expire_due(self) -> int:
        """Announce the grants whose credentials the broker and the sandbox no longer accept."""
        now = self.clock.now().timestamp()
        due = [g for g in self.active.values() if g.expires_at <= now]
        for grant in due:
            del self.active[grant.grant_id]
            await self._ended(grant, "expired")
            if self.grants is not None:
                await self.grants.remove(grant.grant_id)  # after the audit: a crash in between announces again
        return len(due)

    async def _forget(self, grant_id: str) -> None:
        del self.active[grant_id]
        if self.grants is not None:
            await self.grants.remove(grant_id)

    async def _ticket_for(self, request: Request) -> ElevationTicket:
        if request.requester not in self.eligible:
            raise Refused(f"{request.requester} is not eligible for elevation")
        if request.principal != request.requester:
            raise Refused(f"{request.requester} asked on behalf of {request.principal}")
        ticket = await self._find(request)
        if ticket is None:
            raise Refused(f"no elevation ticket for action {request.action_id or '(any)'}")
        problems = verify_ticket(ticket, self.trusted, now=self.clock.now())
        if problems:
            raise Refused("; ".join(problems))
        if ticket.principal != request.requester:
            raise Refused(f"the ticket for {ticket.action_id} is for {ticket.principal}, not {request.requester}")
        if request.target is not None and request.target != ticket.target:
            raise Refused(f"the ticket for {ticket.action_id} covers {ticket.target}, not {request.target}")
        return ticket

    async def _find(self, request: Request) -> ElevationTicket | None:
        if request.action_id is None:
            return await self.tickets.oldest_open(request.requester, self.clock.now())
        ticket = await self.tickets.get(request.action_id)
        if ticket is None and self.ticket_wait_s > 0:
            arrived = self._arrived.setdefault(request.action_id, asyncio.Event())
            try:
                await asyncio.wait_for(arrived.wait(), self.ticket_wait_s)
            except TimeoutError:
                self._arrived.pop(request.action_id, None)
            ticket = await self.tickets.get(request.action_id)
        return ticket

    def _ttl(self, asked: int) -> int:
        if asked < self.min_ttl_s:
            raise Refused(f"a grant lasts at least {self.min_ttl_s}s, {asked}s asked")
        return min(asked, self.max_ttl_s)

    async def _ended(self, grant: ActiveGrant, why: str) -> None:
        t = grant.ticket
        change = Change(grant.grant_id, grant.principal, "deactivated", why, t.incident_id, grant.expires_at)
        await self.announce(replace(change, action_id=t.action_id, target=t.target))

    async def _refusal(
        self,
        principal: str,
        why: str,
        incident_id: str | None,
        ticket: ElevationTicket | None,
        request: Request | None = None,
    ) -> None:
        action_id = ticket.action_id if ticket else (request.action_id if request else None)
        target = ticket.target if ticket else (request.target if request else None)
        correlation = incident_id or (ticket.incident_id if ticket else f"elevation:{action_id or 'unticketed'}")
        log.warning("elevation refused for %s: %s", principal, why)
        await self.announce(Change(str(uuid.uuid4()), principal, "refused", why, correlation, None, action_id, target))
