"""Settings come from WARDEN_* variables; create_app overrides win; audit_dir defaults under data_dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from warden_audit.app import AuditPorts, Settings, create_app
from warden_contracts import topology as topo


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARDEN_NATS_URL", "nats://10.0.0.1:4222")
    monkeypatch.setenv("WARDEN_NATS_CREDS", str(tmp_path / "audit.creds"))
    monkeypatch.setenv("WARDEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WARDEN_SEGMENT_RECORDS", "500")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.nats_url == "nats://10.0.0.1:4222"
    assert settings.segment_records == 500
    assert settings.resolved_audit_dir == tmp_path / "audit"
    assert (
        Settings(nats_creds=tmp_path / "c", data_dir=tmp_path, audit_dir=tmp_path / "elsewhere").resolved_audit_dir
        == tmp_path / "elsewhere"
    )


def test_create_app_subscribes_to_every_topic_audit_consumes(tmp_path: Path) -> None:
    subscribed: list[str] = []

    class RecordingBus:
        identity = "audit"
        healthy = True

        async def publish(self, envelope: object) -> None: ...

        def subscribe(self, topic: str, handler: object, options: object = None) -> None:
            subscribed.append(topic)

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

    app = create_app(
        Settings(nats_creds=tmp_path / "c", data_dir=tmp_path), AuditPorts(bus=RecordingBus()), segment_records=2
    )
    assert app.name == "audit"
    assert "sre.deadletter.v1" in subscribed and "sre.incident.changed.v1" in subscribed
    assert "sre.action.approved.v1" not in subscribed and "sre.audit.recorded.v1" not in subscribed
    assert subscribed == [t.name for t in topo.consumed_by("audit")]  # new topics are picked up by themselves
