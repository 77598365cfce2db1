"""What a child of `warden up` inherits from the launcher's environment: an allow-list, not
`os.environ` (docs/security-model.md, "Secrets are files").

A launcher started from an operator's shell carries whatever that shell exported: cloud keys,
tokens, another tool's passwords. Handing all of it to every service put each secret in nine
more `/proc/<pid>/environ` files. A child now gets the process basics (PATH, HOME, locale, time
zone, PYTHON*, CA bundles, proxies) and of the `WARDEN_*` variables only those its own settings
read: the fields of its `Settings` class and the tracing settings, as `WARDEN_X` or
`WARDEN_X_FILE`. A secret setting (a `SecretStr` field) exported as a value is not passed as
one: the launcher writes it into the service's key folder and passes `WARDEN_X_FILE`.

The fields are read from the settings classes' source (`ast`), not by importing the services:
importing nine composition roots costs the launcher seconds on a loaded machine. A unit test
checks the result against the imported classes.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BASICS = frozenset(
    {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}
)
BASIC_PREFIXES = ("LC_", "PYTHON")
PREFIX = "WARDEN_"
FILE_SUFFIX = "_FILE"
# Every service configures tracing (warden_bus.trace_export.TracingSettings) beside its own settings.
TRACING = ("warden_bus.trace_export", "TracingSettings")
# Bases whose fields are pydantic's own machinery, not settings.
FRAMEWORK_BASES = frozenset({"BaseSettings", "BaseModel", "FileBackedSettings"})


@dataclass(frozen=True)
class EnvSetting:
    name: str  # the setting's environment name, e.g. WARDEN_LLM_API_KEY
    secret: bool  # a SecretStr: a value exported for the launcher goes to the child as a file


def _source(module: str) -> tuple[Path, ast.Module]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    path = Path(spec.origin)
    return path, ast.parse(path.read_text(), str(path))


@cache
def class_fields(module: str, name: str) -> frozenset[EnvSetting]:
    """The annotated fields of class `name` in `module` and of its bases (followed through the
    module's `from X import Y`), as environment names with the settings prefix."""
    _, tree = _source(module)
    imported = {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if cls is None:
        raise LookupError(f"no class {name} in {module}")
    fields: set[EnvSetting] = set()
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id not in FRAMEWORK_BASES:
            fields |= class_fields(imported.get(base.id, module), base.id)
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id != "model_config":
            secret = "SecretStr" in ast.unparse(node.annotation)
            fields.add(EnvSetting(PREFIX + node.target.id.upper(), secret))
    return frozenset(fields)


@cache
def settings_fields(module: str) -> dict[str, EnvSetting]:
    """Every setting the service `module` (run as `python -m module`) reads, by environment name."""
    fields = class_fields(f"{module}.app", "Settings") | class_fields(*TRACING)
    return {f.name: f for f in fields}


def _basic(name: str) -> bool:
    return name in BASICS or name.startswith(BASIC_PREFIXES)


def basics(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process basics alone: what a child that reads no Warden settings (nats-server) gets."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in environ.items() if _basic(name)}


@dataclass(frozen=True)
class Inherited:
    """The part of the launcher's environment one child gets."""

    env: dict[str, str]  # passed as they are
    secrets: dict[str, str]  # WARDEN_X -> value, to be written to a file and passed as WARDEN_X_FILE


def inherited(module: str, environ: Mapping[str, str] | None = None) -> Inherited:
    environ = os.environ if environ is None else environ
    fields = settings_fields(module)
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for name, value in environ.items():
        if _basic(name):
            env[name] = value
        elif (field := fields.get(name)) is not None:
            (secrets if field.secret else env)[name] = value
        elif name.endswith(FILE_SUFFIX) and name.removesuffix(FILE_SUFFIX) in fields:
            env[name] = value
    return Inherited(env, secrets)


def secret_file_name(variable: str) -> str:
    """The key-folder file a secret exported as `variable` is written to."""
    return "env-" + re.sub(r"[^a-z0-9]+", "-", variable.removeprefix(PREFIX).lower()).strip("-")
