"""examples/siem_consumer.py against a real broker and audit service: forwards every record as a
JSON line, checks each hash, link and checkpoint signature with nothing but the example's code."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from warden_audit.app import create_app
from warden_contracts.envelope import envelope_for
from warden_contracts.events import ControlChanged, ControlKind
from warden_security.keys import load_public_key
from warden_testkit.bus import EmbeddedBroker

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "siem_consumer.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("siem_consumer_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_forwards_and_verifies_the_stream(broker: EmbeddedBroker, tmp_path: Path) -> None:
    example = load_example()
    app = create_app(nats_url=broker.url, nats_creds=broker.creds("audit"), data_dir=tmp_path, checkpoint_every=2)
    await app.start()
    operator = broker.bus("operator")
    await operator.start()
    (tmp_path / "nats-auth").mkdir()
    shutil.copy(broker.creds("siem"), tmp_path / "nats-auth" / "siem.creds")
    (tmp_path / "stack.json").write_text(json.dumps({"nats_url": broker.url}))
    out_path = tmp_path / "siem.jsonl"
    key = load_public_key(tmp_path / "keys" / "audit-signing.pub.pem")
    with out_path.open("a", encoding="utf-8") as out:
        consumer = asyncio.create_task(example.forward(tmp_path, out, example.ChainCheck(key), 10))
        try:
            for n in range(5):
                change = ControlChanged(kind=ControlKind.FREEZE, value="on", changed_by="ops", reason=f"drill {n}")
                await operator.publish(
                    envelope_for("sre.control.changed.v1", change, source="warden/cli/ops", correlationid="ctl")
                )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while len(out_path.read_text().splitlines()) < 5:
                assert loop.time() < deadline, out_path.read_text()
                await asyncio.sleep(0.1)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await operator.stop()
            await app.stop()
    lines = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert sorted(line["seq"] for line in lines) == [1, 2, 3, 4, 5]
    assert all(line["warden_verification"] == "ok" for line in lines), lines
    assert {line["operation"] for line in lines} == {"control.freeze"}
    assert all(line["actor"]["id"] == "ops" and line["severity"] == "Medium" for line in lines)
    assert any(line["checkpoint"] for line in lines)
    assert datetime.fromisoformat(lines[0]["time"]) <= datetime.now(UTC)


def test_a_forged_event_is_flagged() -> None:
    example = load_example()
    check = example.ChainCheck(None)
    record = {"seq": 1, "prev_hash": "0" * 64, "envelope": {"data": {}}}
    digest = hashlib.sha256(example.canonical(record)).hexdigest()
    assert check.problems({"seq": 1, "record_hash": digest, "prev_hash": "0" * 64, "record": record}) == []
    tampered = {**record, "envelope": {"data": {"x": 1}}}
    second = {"seq": 2, "record_hash": digest, "prev_hash": "f" * 64, "record": tampered}
    assert check.problems(second) == ["record 2 does not hash to record_hash", "record 2 does not link to record 1"]
