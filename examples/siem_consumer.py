"""Forward Warden's audit stream (`sre.audit.recorded.v1`) to a SIEM as JSON lines, verifying it.

Run against a stack started with `uv run warden up` (same data directory):

    uv run python examples/siem_consumer.py                    # JSON lines on stdout
    uv run python examples/siem_consumer.py --out audit.jsonl  # appended to a file (tail it into your shipper)
    uv run python examples/siem_consumer.py --public-key .warden/keys/audit-signing.pub.pem
    uv run python examples/siem_consumer.py --out audit.jsonl --anchor-out /elsewhere/warden-anchor.json

It connects as the `siem` bus identity (`<data-dir>/nats-auth/siem.creds`), which may read only
its own durable consumer of the audit stream, and acknowledges an event only after its line is
written (and fsync'd, with --out), so a crash re-delivers rather than loses.

Each event is checked on the way, with nothing from Warden but this file: the embedded record
hashes to `record_hash` (canonical JSON = sorted keys, no spaces, UTF-8), consecutive records link
through `prev_hash`, and, with --public-key, every signed checkpoint the stream carries verifies.
Problems go to stderr and into the line (`warden_verification`), never silently dropped. Keep the
newest checkpoint you received: it is your outside copy of the log head (docs/siem.md). With
--anchor-out the newest one is also kept in a file of its own (replaced atomically), to check the
log against later: `warden audit verify --anchor /elsewhere/warden-anchor.json` (docs/audit.md).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import nats
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

STREAM, DURABLE, INBOX = "SRE_AUDIT_RECORDED_V1", "siem", "_INBOX_siem"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class ChainCheck:
    def __init__(self, public_key: Ed25519PublicKey | None) -> None:
        self.public_key = public_key
        self.last: tuple[int, str] | None = None  # (seq, hash) of the previous record seen
        self.checkpoints_seen: set[int] = set()
        self.newest_checkpoint: dict[str, Any] | None = None  # highest seq seen (signature checked if keyed)

    def problems(self, event: dict[str, Any]) -> list[str]:
        found = []
        record = event.get("record")
        if record is None:
            found.append("record not embedded (oversize): fetch it from the audit API to check its hash")
        elif (
            hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()
            != event["record_hash"]
        ):
            found.append(f"record {event['seq']} does not hash to record_hash")
        if self.last is not None and event["seq"] == self.last[0] + 1 and event["prev_hash"] != self.last[1]:
            found.append(f"record {event['seq']} does not link to record {self.last[0]}")
        if self.last is None or event["seq"] > self.last[0]:
            self.last = (event["seq"], event["record_hash"])
        found += self._checkpoint(event.get("checkpoint"))
        return found

    def _checkpoint(self, checkpoint: dict[str, Any] | None) -> list[str]:
        if checkpoint is None or checkpoint["seq"] in self.checkpoints_seen:
            return []
        if self.public_key is None:
            self._keep(checkpoint)
            return []
        statement = {k: v for k, v in checkpoint.items() if k != "signature"}
        try:
            self.public_key.verify(
                base64.b64decode(checkpoint["signature"]), b"warden-audit-checkpoint\n" + canonical(statement)
            )
        except (InvalidSignature, ValueError):
            return [f"checkpoint at seq {checkpoint['seq']} is not signed by the trusted key"]
        self._keep(checkpoint)
        return []

    def _keep(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoints_seen.add(checkpoint["seq"])
        if self.newest_checkpoint is None or checkpoint["seq"] > self.newest_checkpoint["seq"]:
            self.newest_checkpoint = checkpoint


def keep_anchor(path: Path, checkpoint: dict[str, Any]) -> None:
    """Replace `path` with the checkpoint atomically: a crash leaves the old one or the new one."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(checkpoint, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def write_line(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()
    if out is not sys.stdout:
        os.fsync(out.fileno())


async def forward(
    data_dir: Path, out: TextIO, check: ChainCheck, batch: int, anchor_out: Path | None = None
) -> None:
    stack = json.loads((data_dir / "stack.json").read_text())
    nc = await nats.connect(
        stack["nats_url"], user_credentials=str(data_dir / "nats-auth" / "siem.creds"), inbox_prefix=INBOX
    )
    try:
        kept = -1
        sub = await nc.jetstream().pull_subscribe_bind(DURABLE, STREAM, inbox_prefix=f"{INBOX}.".encode())
        while True:
            try:
                messages = await sub.fetch(batch, timeout=5)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            for message in messages:
                envelope = json.loads(message.data)
                event = envelope["data"]
                problems = check.problems(event)
                for problem in problems:
                    print(f"warden-audit: {problem}", file=sys.stderr)
                line = {**event, "warden_event_id": envelope["id"], "warden_verification": problems or "ok"}
                write_line(out, json.dumps(line, sort_keys=True))
                newest = check.newest_checkpoint
                if anchor_out is not None and newest is not None and newest["seq"] > kept:
                    keep_anchor(anchor_out, newest)
                    kept = newest["seq"]
                await message.ack()
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("WARDEN_DATA_DIR", ".warden")))
    parser.add_argument("--out", type=Path, help="append JSON lines here (default stdout)")
    parser.add_argument("--public-key", type=Path, help="the audit service's Ed25519 public key (PEM)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--anchor-out", type=Path, help="keep the newest signed checkpoint in this file")
    args = parser.parse_args()
    key = None
    if args.public_key:
        loaded = serialization.load_pem_public_key(args.public_key.read_bytes())
        if not isinstance(loaded, Ed25519PublicKey):
            parser.error(f"{args.public_key} is not an Ed25519 public key")
        key = loaded
    out = args.out.open("a", encoding="utf-8") if args.out else sys.stdout
    try:
        asyncio.run(forward(args.data_dir.resolve(), out, ChainCheck(key), args.batch, args.anchor_out))
    except KeyboardInterrupt:
        pass
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    main()
