"""The end-to-end raw baseline of `warden bench triage`, run as its own process like triage:
HTTP POST of an Alertmanager group -> the group's alerts published as triage publishes them (one
JetStream atomic batch per group, a `Nats-Msg-Id` each, acknowledged once; `--each`: one
acknowledged publish per alert, concurrent, as before atomic batches) -> 202 -> a pull consumer
(fetch 100) acks each message and notes when.

Nothing else: no auth, no normalisation, no incident store. Same server, same stream settings as
the alert stream (file storage, the server's `sync_interval: always`), so the ratio is the cost of
triage itself. `python -m warden_bench.raw_pipeline URL CREDS PORT [--each]` (the admin identity).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

import nats
from aiohttp import web
from nats.js.api import AckPolicy, ConsumerConfig
from warden_bus.nats_atomic_batch import MAX_BATCH, BatchMessage, publish_atomic
from warden_bus.nats_publish_acks import PublishAcks
from warden_bus.provision import stream_config
from warden_contracts import topology as topo

STREAM, SUBJECT = "BENCH_TRIAGE_E2E", "bench.triage.e2e"


def raw_stream_config() -> Any:
    """The alert stream's own configuration, under another name and subject."""
    config = stream_config(topo.topic("sre.alert.received.v1"))
    config.name, config.subjects = STREAM, [SUBJECT]
    return config


async def serve(url: str, creds: str, port: int, *, each: bool = False) -> None:
    nc = await nats.connect(url, user_credentials=creds)
    js = nc.jetstream()
    await js.add_stream(raw_stream_config())
    sender = PublishAcks(nc)
    await sender.start()
    consumed: dict[str, float] = {}

    async def post(request: web.Request) -> web.Response:
        group = json.loads(await request.read())
        ids = [str(uuid.uuid4()) for _ in group["alerts"]]
        bodies = [json.dumps(alert).encode() for alert in group["alerts"]]
        if each:
            pairs = zip(ids, bodies, strict=True)
            await asyncio.gather(*(js.publish(SUBJECT, b, headers={"Nats-Msg-Id": i}, timeout=30) for i, b in pairs))
        else:
            messages = [BatchMessage(b, {"Nats-Msg-Id": i}) for i, b in zip(ids, bodies, strict=True)]
            for start in range(0, len(messages), MAX_BATCH):
                await publish_atomic(sender, SUBJECT, STREAM, messages[start : start + MAX_BATCH], 30)
        return web.json_response({"accepted": [{"message_id": i} for i in ids]}, status=202)

    async def times(_: web.Request) -> web.Response:
        return web.json_response(consumed)

    async def consume() -> None:
        sub = await js.pull_subscribe(
            SUBJECT, durable="bench", stream=STREAM, config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
        )
        while True:
            try:
                msgs = await sub.fetch(100, timeout=1.0)
            except TimeoutError:
                continue
            for msg in msgs:
                await msg.ack()
                consumed[msg.headers["Nats-Msg-Id"] if msg.headers else ""] = time.time()

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.add_routes([web.post("/raw", post), web.get("/times", times), web.get("/healthz", times)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    task = asyncio.create_task(consume())
    try:
        await asyncio.Event().wait()
    finally:
        task.cancel()
        await runner.cleanup()
        await nc.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), each="--each" in sys.argv[4:]))
