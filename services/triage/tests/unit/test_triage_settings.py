"""Settings come from WARDEN_* variables; start-up refuses bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from warden_triage.app import Settings, create_app
from warden_triage.domain.catalog import CatalogError
from warden_triage.domain.classification import ClassificationError


def test_settings_read_warden_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN", "s3cret")
    monkeypatch.setenv("WARDEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WARDEN_NATS_CREDS", str(tmp_path / "triage.creds"))
    monkeypatch.setenv("WARDEN_MAX_PAYLOAD_BYTES", "1024")
    settings = Settings()  # type: ignore[call-arg]
    assert settings.webhook_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.database_path == tmp_path / "state" / "triage.db"
    assert settings.nats_creds == tmp_path / "triage.creds"
    assert (settings.max_payload_bytes, settings.http_port, settings.classification) == (1024, 0, None)


def test_webhook_token_is_required_and_not_blank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_WEBHOOK_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="webhook_token"):
        Settings()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="must not be empty"):
        Settings(webhook_token="  ")  # type: ignore[arg-type]


def test_payload_limit_cannot_exceed_the_bus_message_limit() -> None:
    with pytest.raises(ValidationError, match="max_payload_bytes"):
        Settings(webhook_token="t", max_payload_bytes=10 * 1024 * 1024)  # type: ignore[arg-type]


def test_bad_classification_override_stops_start_up(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: x, class: gremlins, match: {rule: y}}\n")
    with pytest.raises(ClassificationError, match=r"rules\.0\.class"):
        create_app(webhook_token="t", data_dir=tmp_path, nats_creds=tmp_path / "c", classification=rules)


def test_missing_credentials_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WARDEN_NATS_CREDS", raising=False)
    with pytest.raises(ValueError, match="WARDEN_NATS_CREDS"):
        create_app(webhook_token="t", data_dir=tmp_path)


def test_hmac_secrets_come_from_json_and_must_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN", "t")
    monkeypatch.setenv("WARDEN_WEBHOOK_HMAC_SECRETS", '{"grafana": "0123456789abcdef-secret"}')
    settings = Settings()  # type: ignore[call-arg]
    assert settings.webhook_hmac_secrets["grafana"].get_secret_value() == "0123456789abcdef-secret"
    assert "0123456789abcdef" not in repr(settings)
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(webhook_token="t", webhook_hmac_secrets={"grafana": "short"})  # type: ignore[arg-type]


def test_hmac_secret_for_an_unknown_route_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown webhook routes"):
        create_app(
            webhook_token="t",
            data_dir=tmp_path,
            nats_creds=tmp_path / "c",
            webhook_hmac_secrets={"grafanna": "0123456789abcdef-secret"},
        )


def test_bad_service_catalog_stops_start_up(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("services:\n  - {name: a, environment: dev, owner: o, commander_channel: c, dependencies: [b]}")
    with pytest.raises(CatalogError, match="not in the catalog"):
        create_app(webhook_token="t", data_dir=tmp_path, nats_creds=tmp_path / "c", service_catalog=catalog)
