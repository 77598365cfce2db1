"""The append-blob store against Azurite: conditional appends keep two writers from interleaving,
blobs rotate (sealed) before the block limit, and the result verifies like a local log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.storage.blob.aio import ContainerClient
from warden_audit.adapters.azure_blob_store import AzureAppendBlobStore, ConcurrentWriter
from warden_audit.adapters.ed25519_signer import Ed25519Signer
from warden_audit.domain.recorder import Recorder
from warden_audit.reader import read_records
from warden_audit.verify import verify_log
from warden_testkit.audit import TickingClock, check_for, incident_envelope, new_signer

Factory = Callable[[], ContainerClient]


async def opened(factory: Factory, signer: Ed25519Signer, **kwargs: int) -> tuple[Recorder, AzureAppendBlobStore]:
    store = AzureAppendBlobStore(factory(), **kwargs)
    recorder = Recorder(store, TickingClock(), signer=signer, checkpoint_every=5)
    await recorder.open()
    return recorder, store


async def test_blobs_rotate_sealed_before_the_block_limit_and_verify(
    container_factory: Factory, tmp_path: Path
) -> None:
    signer = new_signer()
    recorder, _ = await opened(container_factory, signer, max_blocks=4)
    for n in range(1, 19):
        await recorder.record(incident_envelope(n))  # one block per call
    await recorder.close()

    probe = container_factory()
    async with probe:
        names = sorted([b.name async for b in probe.list_blobs(name_starts_with="segments/")])
        sealed = [(await probe.get_blob_client(n).get_blob_properties()).is_append_blob_sealed for n in names]
        blocks = [
            (await probe.get_blob_client(n).get_blob_properties()).append_blob_committed_block_count for n in names
        ]
    assert names == [f"segments/{n:06d}.jsonl" for n in range(1, 6)]
    assert blocks == [4, 4, 4, 4, 2]
    assert sealed == [True, True, True, True, False]

    copy = AzureAppendBlobStore(container_factory())
    assert await copy.download_log(tmp_path) == 5
    await copy.close()
    report = verify_log(tmp_path, check_for(signer))
    assert report.ok, report.problem
    assert (report.records, report.last_checkpoint_seq) == (18, 18)

    again, _ = await opened(container_factory, signer, max_blocks=4)
    assert again.head == (18, report.head_hash)
    await again.record(incident_envelope(19))
    await again.close()


async def test_two_writers_never_interleave(container_factory: Factory, tmp_path: Path) -> None:
    signer = new_signer()
    first, _ = await opened(container_factory, signer)
    second, _ = await opened(container_factory, signer)  # both believe the log is empty
    await first.record(incident_envelope(1))
    with pytest.raises(ConcurrentWriter, match="another writer"):  # it created segment 1 first
        await second.record(incident_envelope(2))
    # The refused writer re-reads the log and chains onto the other's record.
    retried = await second.record(incident_envelope(2))
    assert retried.record is not None and retried.record["seq"] == 2
    with pytest.raises(ConcurrentWriter):
        await first.record(incident_envelope(3))  # now the first one is stale
    await first.record(incident_envelope(3))
    await first.close()
    await second.close()

    copy = AzureAppendBlobStore(container_factory())
    await copy.download_log(tmp_path)
    await copy.close()
    assert [r["message_id"] for r in read_records(tmp_path)] == ["m-1", "m-2", "m-3"]
    assert verify_log(tmp_path, check_for(signer)).ok


async def test_a_writer_cannot_append_to_a_blob_another_sealed(container_factory: Factory) -> None:
    signer = new_signer()
    first, _ = await opened(container_factory, signer, max_blocks=2)
    second, _ = await opened(container_factory, signer, max_blocks=2)
    await first.record(incident_envelope(1))
    await first.record(incident_envelope(2))
    await first.record(incident_envelope(3))  # seals 000001, creates 000002
    with pytest.raises(ConcurrentWriter):
        await second.record(incident_envelope(4))
    result = await second.record(incident_envelope(4))
    assert result.record is not None and result.record["seq"] == 4
    await first.close()
    await second.close()


async def test_a_redelivered_message_is_not_appended_twice_after_a_restart(container_factory: Factory) -> None:
    signer = new_signer()
    recorder, _ = await opened(container_factory, signer)
    await recorder.record(incident_envelope(1))
    await recorder.close()
    restarted, _ = await opened(container_factory, signer)
    again = await restarted.record(incident_envelope(1))
    await restarted.close()
    assert again.duplicate and restarted.head[0] == 1


async def test_a_large_batch_is_split_into_whole_line_blocks(container_factory: Factory, tmp_path: Path) -> None:
    signer = new_signer()
    store = AzureAppendBlobStore(container_factory(), max_block_bytes=1500, max_blocks=5)
    recorder = Recorder(store, TickingClock(), signer=signer)
    await recorder.open()
    results = await asyncio.gather(*(recorder.record(incident_envelope(n)) for n in range(1, 21)))
    await recorder.close()
    assert sorted(r.record["seq"] for r in results if r.record) == list(range(1, 21))
    copy = AzureAppendBlobStore(container_factory())
    segments = await copy.download_log(tmp_path)
    await copy.close()
    assert segments >= 2  # more blocks than one blob may hold: rotated mid-batch
    for path in sorted((tmp_path / "segments").iterdir()):
        assert path.read_bytes().endswith(b"\n")  # every blob ends on a whole record
    report = verify_log(tmp_path, check_for(signer))
    assert report.ok and report.records == 20
