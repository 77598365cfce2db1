"""Elevation through Entra PIM (azure-mgmt-authorization): activate an existing eligibility only.

The remediator identity holds eligibilities, never standing assignments. On a doorbell it lists
its eligibilities at each configured scope, `SelfActivate`s the matching one with a
justification and an `AfterDuration` expiry sized to the drain, polls until the assignment is
provisioned, and `SelfDeactivate`s when done. It never creates an eligibility: this module only
calls `role_eligibility_schedule_instances.list_for_scope` (read) and
`role_assignment_schedule_requests.create/get/cancel`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization.v2020_10_01.aio import AuthorizationManagementClient
from azure.mgmt.authorization.v2020_10_01.models import (
    RoleAssignmentScheduleRequest,
    RoleAssignmentScheduleRequestPropertiesScheduleInfo,
    RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration,
    RoleAssignmentScheduleRequestPropertiesTicketInfo,
)
from warden_bus import traced

from warden_executor.domain.model import Grant
from warden_executor.domain.verification import Clock

ACTIVE = frozenset({"Provisioned"})
AWAITING_APPROVAL = frozenset({"PendingApproval", "PendingApprovalProvisioning", "PendingAdminDecision"})
FAILED = frozenset(
    {"Denied", "Failed", "FailedAsResourceIsLocked", "AdminDenied", "TimedOut", "Canceled", "Invalid", "Revoked"}
)
JUSTIFICATION_LIMIT = 500  # PIM rejects longer justifications
_MATERIAL = "pim_active"


class PimError(RuntimeError):
    """Base of every refusal on the PIM path (the doorbell is retried later)."""


class NotEligible(PimError):
    """No eligibility for the role at (or above) the scope: nothing to activate, nothing created."""


class PendingApproval(PimError):
    """The role needs a PIM approver: the request is cancelled, never left to be granted later."""


class ActivationFailed(PimError):
    """PIM refused or failed the activation (policy, lock, throttling beyond the retries, ...)."""


@dataclass(frozen=True)
class RoleActivation:
    """One eligibility to activate: where, and which role (full id or bare GUID)."""

    scope: str
    role_definition_id: str


@dataclass(frozen=True)
class ActiveRole:
    scope: str
    role_definition_id: str
    eligibility_schedule_id: str
    request_name: str
    expires_at: str


def _guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _covers(eligible_scope: str, scope: str) -> bool:
    """ARM scopes are case-insensitive paths; an eligibility at a parent scope covers its children."""
    parent, child = eligible_scope.rstrip("/").lower(), scope.rstrip("/").lower()
    return child == parent or child.startswith(parent + "/")


def pim_duration(seconds: float) -> str:
    """ISO 8601 duration for `AfterDuration`, rounded up to whole minutes."""
    return f"PT{max(1, math.ceil(seconds / 60))}M"


def _reason(err: HttpResponseError) -> str:
    code = getattr(err.error, "code", None) if err.error else None
    return f"HTTP {err.status_code} {code or ''}: {err.message}".strip()


class PimActivator:
    """SelfActivate / SelfDeactivate for one principal, over the SDK's async client."""

    def __init__(
        self,
        client: AuthorizationManagementClient,
        principal_id: str,
        clock: Clock,
        *,
        poll_interval_s: float = 2.0,
        activation_timeout_s: float = 120.0,
    ) -> None:
        self._client, self._principal, self._clock = client, principal_id, clock
        self._poll_s, self._timeout_s = poll_interval_s, activation_timeout_s

    async def _eligibility(self, wanted: RoleActivation) -> tuple[str, str, str]:
        """(scope, role definition id, eligibility schedule id) of the matching eligibility."""
        instances = self._client.role_eligibility_schedule_instances.list_for_scope(
            wanted.scope, filter=f"assignedTo('{self._principal}')"
        )
        seen: list[str] = []
        async for inst in instances:
            scope, role, schedule = inst.scope or "", inst.role_definition_id or "", inst.role_eligibility_schedule_id
            seen.append(f"{_guid(role)} at {scope}")
            if schedule and _guid(role) == _guid(wanted.role_definition_id) and _covers(scope, wanted.scope):
                return scope, role, schedule
        raise NotEligible(
            f"{self._principal} has no eligibility for role {_guid(wanted.role_definition_id)} at {wanted.scope}"
            f" (eligible: {', '.join(seen) or 'none'})"
        )

    async def activate(self, wanted: RoleActivation, justification: str, ticket: str, seconds: float) -> ActiveRole:
        try:
            scope, role, schedule = await self._eligibility(wanted)
            name = str(uuid.uuid4())
            request = RoleAssignmentScheduleRequest(
                principal_id=self._principal,
                role_definition_id=role,
                request_type="SelfActivate",
                linked_role_eligibility_schedule_id=schedule,
                justification=justification[:JUSTIFICATION_LIMIT],
                ticket_info=RoleAssignmentScheduleRequestPropertiesTicketInfo(
                    ticket_number=ticket, ticket_system="warden"
                ),
                schedule_info=RoleAssignmentScheduleRequestPropertiesScheduleInfo(
                    start_date_time=self._clock.now(),
                    expiration=RoleAssignmentScheduleRequestPropertiesScheduleInfoExpiration(
                        type="AfterDuration", duration=pim_duration(seconds)
                    ),
                ),
            )
            ops = self._client.role_assignment_schedule_requests
            created = await ops.create(scope, name, request)
            status = str(created.status or "")
            deadline = self._clock.monotonic() + self._timeout_s
            while status not in ACTIVE:
                if status in AWAITING_APPROVAL:
                    await ops.cancel(scope, name)
                    raise PendingApproval(f"activation of {_guid(role)} at {scope} awaits a PIM approver; cancelled")
                if status in FAILED:
                    raise ActivationFailed(f"activation of {_guid(role)} at {scope}: {status}")
                if self._clock.monotonic() >= deadline:
                    await ops.cancel(scope, name)
                    raise ActivationFailed(f"activation of {_guid(role)} at {scope} still {status}; cancelled")
                await self._clock.sleep(self._poll_s)
                status = str((await ops.get(scope, name)).status or "")
        except HttpResponseError as err:
            raise ActivationFailed(f"PIM: {_reason(err)}") from err
        expires = self._clock.now() + timedelta(seconds=seconds)
        return ActiveRole(scope, role, schedule, name, expires.isoformat())

    async def deactivate(self, active: ActiveRole, justification: str) -> None:
        request = RoleAssignmentScheduleRequest(
            principal_id=self._principal,
            role_definition_id=active.role_definition_id,
            request_type="SelfDeactivate",
            linked_role_eligibility_schedule_id=active.eligibility_schedule_id,
            justification=justification[:JUSTIFICATION_LIMIT],
        )
        try:
            await self._client.role_assignment_schedule_requests.create(active.scope, str(uuid.uuid4()), request)
        except HttpResponseError as err:
            raise ActivationFailed(f"PIM deactivation at {active.scope}: {_reason(err)}") from err


class PimElevation:
    """The executor's Elevation port on Azure: every configured role, activated for one drain."""

    def __init__(self, activator: PimActivator, principal_id: str, roles: Sequence[RoleActivation], clock: Clock):
        if not roles:
            raise ValueError("PIM elevation needs at least one role to activate")
        self._activator, self._principal, self._roles, self._clock = activator, principal_id, list(roles), clock

    @traced.elevation_call("activate")
    async def elevate(self, justification: str, ttl_s: int, action_id: str | None = None) -> Grant:
        # PIM activates roles, not actions: the justification (which names the action) is the link.
        grant_id = str(uuid.uuid4())
        active: list[ActiveRole] = []
        try:
            for role in self._roles:
                active.append(await self._activator.activate(role, justification, grant_id, ttl_s))
        except BaseException:
            # All or nothing: a half-elevated executor could read actions it cannot carry out.
            for done in active:
                await self._activator.deactivate(done, f"rollback of partial elevation {grant_id}")
            raise
        expires = min(datetime.fromisoformat(a.expires_at) for a in active)
        material = {_MATERIAL: json.dumps([asdict(a) for a in active])}
        return Grant(grant_id=grant_id, principal=self._principal, expires_at=expires, material=material)

    @traced.elevation_call("release")
    async def release(self, grant: Grant) -> None:
        for raw in json.loads(grant.material.get(_MATERIAL, "[]")):
            await self._activator.deactivate(ActiveRole(**raw), f"drain done under grant {grant.grant_id}")
