"""The audit container's WORM policy through the Storage control plane (azure-mgmt-storage).

A time-based retention policy with `allowProtectedAppendWrites` lets the audit service append
blocks to its append blobs while nobody (the service, an admin, a compromised agent) can modify or
delete what was written until the retention period ends. Locking the policy makes that permanent:
a locked policy can be extended, never shortened or removed. Azurite does not implement these
calls (501), so they are tested through a transport-level double of the ARM endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.core import MatchConditions
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import ImmutabilityPolicy, ImmutabilityPolicyProperty


@dataclass(frozen=True)
class ContainerRef:
    resource_group: str
    account: str
    container: str


@dataclass(frozen=True)
class RetentionState:
    days: int
    state: str  # Unlocked | Locked
    protected_appends: bool
    etag: str | None


def _state(policy: ImmutabilityPolicy) -> RetentionState:
    return RetentionState(
        int(policy.immutability_period_since_creation_in_days or 0),
        str(getattr(policy.state, "value", policy.state) or ""),
        bool(policy.allow_protected_append_writes),
        policy.etag,
    )


def apply_retention(
    client: StorageManagementClient, ref: ContainerRef, days: int, *, lock: bool = False
) -> RetentionState:
    """Create or extend the retention policy (appends allowed); lock it if asked."""
    if days < 1:
        raise ValueError("retention must be at least one day")
    policy = client.blob_containers.create_or_update_immutability_policy(
        ref.resource_group,
        ref.account,
        ref.container,
        parameters=ImmutabilityPolicy(
            properties=ImmutabilityPolicyProperty(
                immutability_period_since_creation_in_days=days, allow_protected_append_writes=True
            )
        ),
    )
    if lock and policy.state != "Locked":
        if not policy.etag:
            raise RuntimeError("the service returned no etag to lock the policy with")
        policy = client.blob_containers.lock_immutability_policy(
            ref.resource_group,
            ref.account,
            ref.container,
            etag=policy.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    return _state(policy)


def retention_problems(client: StorageManagementClient, ref: ContainerRef, min_days: int) -> list[str]:
    """What is wrong with the container's policy for an audit log (empty: fit to write to)."""
    state = _state(client.blob_containers.get_immutability_policy(ref.resource_group, ref.account, ref.container))
    problems = []
    if state.days < min_days:
        problems.append(f"retention is {state.days} days, below the required {min_days}")
    if not state.protected_appends:
        problems.append("allowProtectedAppendWrites is off: the audit service could not append")
    if state.state != "Locked":
        problems.append("the policy is not locked: an account admin could still shorten or delete it")
    return problems
