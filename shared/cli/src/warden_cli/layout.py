"""Where the embedded stack keeps things under its data directory."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICES = ("sandbox", "triage", "planner", "policy", "executor", "audit")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def service_keys(self, service: str) -> Path:
        """The folder of one service's own key material (warden_cli.key_folders)."""
        return self.keys / service

    # Each signing key lives only in the folder of the service that signs with it.
    @property
    def policy_signing_key(self) -> Path:
        return self.service_keys("policy") / "policy-signing.pem"

    @property
    def approver_issuer_key(self) -> Path:
        return self.service_keys("console") / "approver-issuer.pem"

    @property
    def elevation_key(self) -> Path:
        return self.service_keys("elevation") / "elevation-authority.pem"

    @property
    def audit_signing_key(self) -> Path:
        return self.service_keys("audit") / "audit-signing.pem"

    @property
    def account_seed(self) -> Path:
        """The NATS account key, in one place: the elevation authority mints time-boxed users
        with it, and the launcher reads it from there to issue the standing identities."""
        return self.service_keys("elevation") / "account.seed"

    @property
    def secrets_file(self) -> Path:
        return self.keys / "secrets.json"

    @property
    def nats_auth(self) -> Path:
        return self.root / "nats-auth"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def audit_dir(self) -> Path:
        return self.root / "audit"

    def sandbox_worlds(self) -> tuple[Path, Path]:
        """Where the sandbox saves its simulated world: under the shared data folder, or under its
        own with `warden up --service-users` (warden_cli.service_users)."""
        return self.root / "sandbox" / "world.json", self.root / "services" / "sandbox" / "sandbox" / "world.json"

    @property
    def stack_file(self) -> Path:
        return self.root / "stack.json"

    def creds(self, identity: str) -> Path:
        return self.nats_auth / f"{identity}.creds"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def secrets(self) -> dict[str, str]:
        """Webhook token and sandbox admin secret, created once with owner-only permissions."""
        if not self.secrets_file.exists():
            self.keys.mkdir(parents=True, exist_ok=True)
            values = {"webhook_token": secrets.token_urlsafe(24), "sandbox_admin_secret": secrets.token_urlsafe(24)}
            fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(values, fh)
        return dict(json.loads(self.secrets_file.read_text()))

    def write_stack(self, info: dict[str, Any]) -> None:
        fd = os.open(self.stack_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh, indent=2)

    def read_stack(self) -> dict[str, Any]:
        if not self.stack_file.exists():
            raise FileNotFoundError(f"no running stack under {self.root}: start one with `warden up`")
        return dict(json.loads(self.stack_file.read_text()))


def default_data_dir() -> Path:
    return Path(os.environ.get("WARDEN_DATA_DIR", ".warden")).resolve()
