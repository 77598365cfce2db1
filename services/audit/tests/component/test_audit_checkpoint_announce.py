"""Every signed checkpoint reaches the SIEM stream, also those the timer signs after the last record;
the example consumer keeps the newest as an outside anchor that `warden audit verify --anchor` uses."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

from typer.testing import CliRunner
from warden_audit.app import create_app
from warden_cli.main import app as cli
from warden_contracts.envelope import envelope_for
from warden_contracts.events import AuditRecorded, ControlChanged, ControlKind
from warden_security.keys import load_public_key
from warden_testkit.bus import EmbeddedBroker

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "siem_consumer.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("siem_consumer_anchor_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_timer_checkpoints_are_announced_and_kept_outside(broker: EmbeddedBroker, tmp_path: Path) -> None:
    example = load_example()
    service = create_app(
        nats_url=broker.url,
        nats_creds=broker.creds("audit"),
        data_dir=tmp_path,
        checkpoint_every=1000,  # never by count: only the timer signs, after the last record
        checkpoint_interval_s=0.2,
    )
    await service.start()
    operator = broker.bus("operator")
    await operator.start()
    (tmp_path / "nats-auth").mkdir()
    shutil.copy(broker.creds("siem"), tmp_path / "nats-auth" / "siem.creds")
    (tmp_path / "stack.json").write_text(json.dumps({"nats_url": broker.url}))
    kept = tmp_path / "siem" / "anchor.json"
    kept.parent.mkdir()
    key = load_public_key(tmp_path / "keys" / "audit-signing.pub.pem")
    with (tmp_path / "siem.jsonl").open("a", encoding="utf-8") as out:
        consumer = asyncio.create_task(example.forward(tmp_path, out, example.ChainCheck(key), 10, kept))
        try:
            for n in range(3):
                change = ControlChanged(kind=ControlKind.FREEZE, value="on", changed_by="ops", reason=f"drill {n}")
                await operator.publish(
                    envelope_for("sre.control.changed.v1", change, source="warden/cli/ops", correlationid="ctl")
                )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not kept.exists() or json.loads(kept.read_text())["seq"] < 3:
                assert loop.time() < deadline, (tmp_path / "siem.jsonl").read_text()
                await asyncio.sleep(0.1)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await operator.stop()
            await service.stop()
    events = [e.payload(AuditRecorded) for e in await broker.wait_for("sre.audit.recorded.v1", count=4)]
    with_checkpoint = [e for e in events if e.checkpoint and e.checkpoint["seq"] == 3]
    assert with_checkpoint and all(e.seq == 3 for e in with_checkpoint)  # announced with the head record
    result = CliRunner().invoke(cli, ["audit", "verify", "--data-dir", str(tmp_path), "--anchor", str(kept)])
    assert result.exit_code == 0, result.output
    assert "anchors checked up to seq 3" in result.output
