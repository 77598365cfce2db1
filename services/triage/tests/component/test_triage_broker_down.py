"""With the broker gone the webhook answers 503 + Retry-After at once (the source retries later),
and accepts again once the broker is back: nothing is acknowledged that was not stored."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
from warden_testkit.bus import embedded_broker, eventually
from warden_triage.app import create_app

FIXTURE = Path(__file__).parent.parent / "fixtures" / "azure_metric_fired.json"
TOKEN = "t"


def alert(alert_id: str) -> bytes:
    payload = json.loads(FIXTURE.read_text())
    payload["data"]["essentials"]["alertId"] = alert_id
    return json.dumps(payload).encode()


async def test_webhook_answers_503_within_a_second_while_the_broker_is_down(tmp_path: Path) -> None:
    async with embedded_broker(tmp_path / "nats") as broker:
        runtime = create_app(
            nats_url=broker.url, nats_creds=broker.creds("triage"), data_dir=tmp_path / "triage", webhook_token=TOKEN
        )
        await runtime.start()
        url = f"http://127.0.0.1:{runtime.bound_port}/webhooks/azure-monitor"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(url, data=alert("/subscriptions/s/alerts/before"), headers=headers) as resp:
                    assert resp.status == 202

                process = broker.server.process
                assert process is not None
                process.kill()  # kill -9: no goodbye to the clients
                process.wait()
                await eventually(lambda: not runtime.bus.healthy, 5, what="triage to notice the broker is gone")

                started = time.monotonic()
                async with http.post(url, data=alert("/subscriptions/s/alerts/during"), headers=headers) as resp:
                    took = time.monotonic() - started
                    assert resp.status == 503
                    assert resp.headers["Retry-After"].isdigit()
                    assert "unavailable" in (await resp.json())["error"]
                assert took < 1.0, f"503 after {took:.2f}s"
                async with http.get(f"http://127.0.0.1:{runtime.bound_port}/metrics") as resp:
                    assert "webhook_unavailable" in await resp.text()

                await broker.server.start()  # same port, same JetStream store
                await eventually(lambda: runtime.bus.healthy, 15, what="triage to reconnect")
                async with http.post(url, data=alert("/subscriptions/s/alerts/during"), headers=headers) as resp:
                    assert resp.status == 202
                stored = await broker.read_all("sre.alert.received.v1", wait=0.5)
                assert sorted(e.subject for e in stored) == [
                    "/subscriptions/s/alerts/before",
                    "/subscriptions/s/alerts/during",
                ]
        finally:
            await runtime.stop()
