"""Inclusion-proof bundles: one incident's records proven against a signed checkpoint, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.adapters.local_store import LocalSegmentStore
from warden_audit.domain.recorder import Recorder
from warden_audit.proofs import NotProvable, bundle_for, verify_bundle
from warden_audit.query import records_for
from warden_testkit.audit import TickingClock, check_for, incident_envelope, new_signer, write_log


@pytest.fixture
def signer() -> Ed25519Signer:
    return new_signer()


@pytest.fixture
async def log(tmp_path: Path, signer: Ed25519Signer) -> Path:
    await write_log(tmp_path, 11, signer=signer)  # incidents inc-0, inc-1, inc-2 interleaved
    return tmp_path


def test_an_incident_bundle_verifies_offline(log: Path, signer: Ed25519Signer) -> None:
    bundle = bundle_for(log, records_for(log, "inc-1"), title="inc-1")
    assert [r["seq"] for r in bundle["records"]] == [1, 4, 7, 10]
    assert bundle["checkpoint"]["seq"] == 11
    report = verify_bundle(bundle, check_for(signer))
    assert report.ok, report.problems
    assert (report.records, report.checkpoint_seq) == (4, 11)


def test_the_oldest_covering_checkpoint_is_not_required(log: Path, signer: Ed25519Signer) -> None:
    bundle = bundle_for(log, records_for(log, "inc-2")[:1])  # seq 2: the newest checkpoint still proves it
    assert verify_bundle(bundle, check_for(signer)).ok


def test_an_edited_record_in_a_bundle_is_named(log: Path, signer: Ed25519Signer) -> None:
    bundle = bundle_for(log, records_for(log, "inc-1"))
    bundle["records"][2]["envelope"]["data"]["title"] = "edited"
    report = verify_bundle(bundle, check_for(signer))
    assert not report.ok
    assert report.problems == ["record 7: content does not match its hash (edited)"]


def test_a_bundle_under_an_untrusted_key_or_with_a_rehashed_record_fails(log: Path) -> None:
    bundle = bundle_for(log, records_for(log, "inc-1"))
    bundle["records"][0]["envelope"]["data"]["title"] = "x"
    bundle["records"][0]["hash"] = "0" * 64
    report = verify_bundle(bundle, check_for(new_signer()))
    assert not report.ok
    assert any("not signed by a trusted key" in p for p in report.problems)
    assert any(p.startswith("record 1:") for p in report.problems)


def test_a_swapped_proof_is_refused(log: Path, signer: Ed25519Signer) -> None:
    bundle = bundle_for(log, records_for(log, "inc-1"))
    bundle["proofs"]["4"], bundle["proofs"]["7"] = bundle["proofs"]["7"], bundle["proofs"]["4"]
    report = verify_bundle(bundle, check_for(signer))
    assert {p.split(":")[0] for p in report.problems} == {"record 4", "record 7"}


async def test_records_after_the_last_checkpoint_are_not_provable_yet(tmp_path: Path) -> None:
    recorder = Recorder(LocalSegmentStore(tmp_path, 4), TickingClock(), signer=new_signer(), checkpoint_every=100)
    await recorder.open()
    for n in range(1, 4):
        await recorder.record(incident_envelope(n))
    with pytest.raises(NotProvable, match="no signed checkpoint covers seq 3"):
        bundle_for(tmp_path, records_for(tmp_path, "inc-0"))
    await recorder.checkpoint()
    assert bundle_for(tmp_path, records_for(tmp_path, "inc-0"))["checkpoint"]["seq"] == 3
    await recorder.close()
