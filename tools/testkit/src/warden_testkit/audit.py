"""Helpers for the audit tests (kept in src so test modules can share them): logs with real keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from warden_audit.adapters.ed25519_signer import Ed25519Signer, trusted_keys
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.checkpoint import SignatureCheck, Signer
from warden_audit.domain.personal import PersonalVault, separate
from warden_audit.domain.recorder import Recorder


def incident_envelope(n: int, *, incident: str | None = None, topic: str = "sre.incident.changed.v1") -> dict[str, Any]:
    """A JSON-ready envelope; `n` makes id and content unique."""
    incident = incident or f"inc-{n % 3}"
    return {
        "id": f"m-{n}",
        "source": "warden/triage",
        "type": topic,
        "correlationid": incident,
        "time": "2026-11-21T10:00:00Z",
        "data": {"incident_id": incident, "title": f"alert {n}"},
    }


class TickingClock:
    """Deterministic time that advances one second per reading."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def new_signer() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate())


def check_for(signer: Ed25519Signer) -> SignatureCheck:
    return trusted_keys([signer.public_key])


async def write_log(
    audit_dir: Path,
    count: int,
    *,
    signer: Signer,
    per_segment: int = 4,
    checkpoint_every: int = 3,
    envelope: Callable[[int], dict[str, Any]] = incident_envelope,
    vault: PersonalVault | None = None,
) -> Recorder:
    """Record `count` messages one by one and close (which signs a final checkpoint).

    With a `vault`, personal fields go there by reference, as the service does it.
    """
    recorder = Recorder(
        LocalSegmentStore(audit_dir, per_segment), TickingClock(), signer=signer, checkpoint_every=checkpoint_every
    )
    await recorder.open()
    for n in range(1, count + 1):
        message = envelope(n)
        if vault is None:
            await recorder.record(message)
            continue
        principal = (message.get("data") or {}).get("changed_by")
        message, erasable = separate(str(message["type"]), message, vault, principal)
        await recorder.record(message, {"erasable": erasable} if erasable else None)
    await recorder.close()
    return recorder
