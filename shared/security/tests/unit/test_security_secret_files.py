"""`WARDEN_X_FILE` supplies setting `x` from a file; `X` and `X_FILE` together are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from warden_security.secret_files import SecretFileError, with_secret_files


class Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARDEN_", extra="ignore")

    webhook_token: SecretStr | None = None
    hmac_secrets: dict[str, SecretStr] = {}
    users_file: Path | None = None
    port: int = 0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return with_secret_files(settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings)


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_value_comes_from_the_file_without_its_trailing_newline(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN_FILE", str(_file(tmp_path, "token", "s3cret value\n")))
    monkeypatch.setenv("WARDEN_PORT_FILE", str(_file(tmp_path, "port", "8080\n")))
    settings = Example()
    assert settings.webhook_token is not None
    assert settings.webhook_token.get_secret_value() == "s3cret value"
    assert settings.port == 8080


def test_complex_values_in_a_file_are_json(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_HMAC_SECRETS_FILE", str(_file(tmp_path, "hmac", '{"grafana": "0123456789abcdef"}')))
    assert Example().hmac_secrets["grafana"].get_secret_value() == "0123456789abcdef"


def test_the_plain_variable_still_works(monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN", "from-env")
    token = Example().webhook_token
    assert token is not None and token.get_secret_value() == "from-env"


def test_both_set_is_refused_naming_both_variables(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN", "from-env")
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN_FILE", str(_file(tmp_path, "token", "from-file")))
    with pytest.raises(SecretFileError, match="both WARDEN_WEBHOOK_TOKEN and WARDEN_WEBHOOK_TOKEN_FILE are set"):
        Example()


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SecretFileError, match="WARDEN_WEBHOOK_TOKEN_FILE: cannot read"):
        Example()


def test_a_setting_named_like_a_file_keeps_its_meaning(tmp_path: Path, monkeypatch) -> None:
    users = _file(tmp_path, "users.yaml", "users: {}\n")
    monkeypatch.setenv("WARDEN_USERS_FILE", str(users))
    assert Example().users_file == users


def test_init_arguments_still_win(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_WEBHOOK_TOKEN_FILE", str(_file(tmp_path, "token", "from-file")))
    token = Example(webhook_token="given").webhook_token
    assert token is not None and token.get_secret_value() == "given"
