"""Settings read from files: `WARDEN_X_FILE=/path` supplies the value of setting `x`.

Secrets in environment variables leak: every process of the same user can read
`/proc/<pid>/environ`, crash reporters and `ps e` print them, and children inherit them. So the
launcher hands a service `WARDEN_X_FILE` pointing at an owner-only file in that service's key
folder, and the service reads the value from there.

The rule (docs/security-model.md): for every setting `x`, `WARDEN_X` or `WARDEN_X_FILE` may be set,
never both — both set is a start-up error naming the two variables, so an operator never wonders
which one won. The file's content is the value, less trailing line breaks; values of complex
settings (dicts, lists) are JSON, as in the variable. A setting whose own name ends in `_file`
(e.g. `users_file`) is a path already and keeps its meaning.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

SUFFIX = "_FILE"


class SecretFileError(ValueError):
    """A `_FILE` setting that conflicts with its variable or cannot be read."""


class SecretFilesSource(EnvSettingsSource):
    """The environment source, fed with the contents of the `<PREFIX><FIELD>_FILE` files."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return secret_file_values(self.settings_cls, self.env_prefix, os.environ, case_sensitive=self.case_sensitive)


def secret_file_values(
    settings_cls: type[BaseSettings], prefix: str, environ: Mapping[str, str], *, case_sensitive: bool | None = False
) -> dict[str, str]:
    fields = set(settings_cls.model_fields)
    values: dict[str, str] = {}
    for name in sorted(fields):
        if f"{name}_file" in fields:
            continue  # `WARDEN_USERS_FILE` is the `users_file` setting, not a file holding `users`
        variable = f"{prefix}{name}".upper()
        path = _lookup(environ, variable + SUFFIX, case_sensitive)
        if path is None:
            continue
        if _lookup(environ, variable, case_sensitive) is not None:
            raise SecretFileError(f"both {variable} and {variable}{SUFFIX} are set: set only one")
        key = f"{prefix}{name}" if case_sensitive else f"{prefix}{name}".lower()
        values[key] = read_secret_file(Path(path), variable + SUFFIX)
    return values


def read_secret_file(path: Path, variable: str) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        raise SecretFileError(f"{variable}: cannot read {path}: {err.strerror or err}") from None


def _lookup(environ: Mapping[str, str], variable: str, case_sensitive: bool | None) -> str | None:
    if case_sensitive:
        return environ.get(variable)
    wanted = variable.lower()
    return next((value for key, value in environ.items() if key.lower() == wanted), None)


def with_secret_files(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """For `settings_customise_sources`: the default order with the `_FILE` source beside the
    environment (both set is refused, so their relative order never decides anything)."""
    return (init_settings, SecretFilesSource(settings_cls), env_settings, dotenv_settings, file_secret_settings)


class FileBackedSettings(BaseSettings):
    """Base of every Warden settings class: any setting may come from `WARDEN_X_FILE`."""

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
